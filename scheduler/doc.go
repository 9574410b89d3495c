// Package scheduler is the service that fires scheduled activities: on every
// replica it tries to hold the scheduler lease (a row in the database, the
// same on SQLite and PostgreSQL), and the one replica that holds it
// evaluates what is due (schedule.Store.RunDue) once per tick and at each
// next fire time. Whether a fire time fires, and that it fires once, is
// decided in the model, by the firing row written in the same transaction
// as the change; the lease only keeps replicas from doing the same work
// twice. A replica that dies stops renewing the lease and another takes it
// over when it expires (Lease, a few seconds); one that stops cleanly gives
// it up at once. The retention job is an internal activity on the same
// path, so it too runs once per fire time across replicas. The leader
// prepares the firings due within PrepareAhead (schedule.PrepareAhead: every
// read, nothing written), so that at the fire time only their transactions
// remain; a replica that is not the leader keeps nothing prepared and only
// tries the lease each Interval.
//
// The service has the engine's shape: a config struct whose zero values
// mean the defaults, Start/Stop/Wait, and an exported Tick that tests call
// with an injected clock instead of waiting for the loop.
package scheduler
