package httpapi

import (
	_ "embed"
	"net/http"
	"slices"
	"strings"
)

// openAPI is the OpenAPI 3.1 document of the API; the tests check it
// against the routes and the answers of a live server.
//
//go:embed openapi.json
var openAPI []byte

// PathOpenAPI is where the server serves its OpenAPI document.
const PathOpenAPI = "/v1/openapi.json"

// OpenAPI returns the OpenAPI 3.1 document of the API. The caller must
// not change it.
func OpenAPI() []byte { return openAPI }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

// routeMux is a ServeMux that remembers the patterns registered on it, so
// that the routes a server serves can be listed (and checked against the
// OpenAPI document).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// HandleFunc registers handler for pattern.
func (m *routeMux) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, handler)
}

// Handle registers handler for pattern.
func (m *routeMux) Handle(pattern string, handler http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, handler)
}

// Routes returns the routes the server serves, as "METHOD /path/{wildcard}",
// sorted; the catch-all that answers unknown paths is not one.
func (s *Server) Routes() []string {
	var out []string
	for _, p := range s.mux.patterns {
		if strings.Contains(p, " ") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
