package handler

import "github.com/gorilla/mux"

// routeGitRemotes is a placeholder until its resource family is written; delete this file then.
func (a *API) routeGitRemotes(r *mux.Router) {}
