package handler

import "github.com/gorilla/mux"

// routeIdentity is a placeholder until its resource family is written; delete this file then.
func (a *API) routeIdentity(r *mux.Router) {}
