package handler

import "github.com/gorilla/mux"

// routePropertySets is a placeholder until its resource family is written; delete this file then.
func (a *API) routePropertySets(r *mux.Router) {}
