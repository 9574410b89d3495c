package handler

import "github.com/gorilla/mux"

// routeConvergedProperties is a placeholder until its resource family is written; delete this file then.
func (a *API) routeConvergedProperties(r *mux.Router) {}
