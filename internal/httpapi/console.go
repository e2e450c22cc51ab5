package httpapi

import "strings"

// consoleRoutes serves the web console, when there is one, under /ui/. Its
// files need no credential (they hold none); what they show comes from
// the API with the credential of whoever logs in. They are not API routes,
// so they are left out of Routes and the OpenAPI document.
func (s *Server) consoleRoutes() {
	if s.console == nil {
		return
	}
	s.mux.ServeMux.Handle("GET /ui/", s.console)
	s.mux.ServeMux.Handle("GET /ui", s.console)
}

// isConsole reports whether path is the console's, which every node
// serves itself.
func isConsole(path string) bool { return path == "/ui" || strings.HasPrefix(path, "/ui/") }
