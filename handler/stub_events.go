package handler

import "github.com/gorilla/mux"

// routeEvents is a placeholder until its resource family is written; delete this file then.
func (a *API) routeEvents(r *mux.Router) {}
