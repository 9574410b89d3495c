package handler

import "github.com/gorilla/mux"

// routeMintModels is a placeholder until its resource family is written; delete this file then.
func (a *API) routeMintModels(r *mux.Router) {}
