// Package authz decides who may do what where: given the rules that apply
// to a caller, a verb and a path, it says allow or deny and which rule
// decided. It is pure (no database, no HTTP): the model loads the rules and
// turns ReadFilter into SQL, so lists are filtered where the rows are.
package authz
