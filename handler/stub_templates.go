package handler

import "github.com/gorilla/mux"

// routeTemplates is a placeholder until its resource family is written; delete this file then.
func (a *API) routeTemplates(r *mux.Router) {}
