package handler

import "github.com/gorilla/mux"

// routeInfo is a placeholder until its resource family is written; delete this file then.
func (a *API) routeInfo(r *mux.Router) {}
