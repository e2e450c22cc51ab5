package daemon

// Routes returns the routes the daemon's HTTP API serves, as
// "METHOD /path/{wildcard}": what its OpenAPI document must describe.
func (d *Daemon) Routes() []string { return d.api.Routes() }
