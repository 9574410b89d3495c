package handler

import "github.com/gorilla/mux"

func (a *API) routeInfo(r *mux.Router)         {}
func (a *API) routeIdentity(r *mux.Router)     {}
func (a *API) routePropertySets(r *mux.Router) {}
func (a *API) routeEvents(r *mux.Router)       {}
