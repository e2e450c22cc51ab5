package packaging_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Kubernetes release whose API the manifests are checked against,
// and the validator. Both come from the Go module proxy: the schemas are
// made from the OpenAPI documents in the Kubernetes module.
const (
	kubernetesModule = "k8s.io/kubernetes@v1.37.2"
	kubeconform      = "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0"
)

// kubeSchemas maps a kubeconform schema file name to the OpenAPI document
// and the schema of each kind the manifests use.
var kubeSchemas = map[string][2]string{
	"statefulset-apps-v1.json":           {"apis__apps__v1_openapi.json", "io.k8s.api.apps.v1.StatefulSet"},
	"service-v1.json":                    {"api__v1_openapi.json", "io.k8s.api.core.v1.Service"},
	"poddisruptionbudget-policy-v1.json": {"apis__policy__v1_openapi.json", "io.k8s.api.policy.v1.PodDisruptionBudget"},
}

func TestKubernetesManifestsMatchTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the Kubernetes module")
	}
	out, err := exec.Command("go", "mod", "download", "-json", kubernetesModule).Output()
	require(t, err == nil, "cannot download "+kubernetesModule+" from the Go module proxy")
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	schemas := t.TempDir()
	for file, src := range kubeSchemas {
		writeStrictSchema(t, filepath.Join(mod.Dir, "api", "openapi-spec", "v3", src[0]), src[1], filepath.Join(schemas, file))
	}
	manifests, _ := filepath.Glob(filepath.Join("..", "deploy", "kubernetes", "*.yaml"))
	var resources []string
	for _, m := range manifests {
		if filepath.Base(m) != "kustomization.yaml" {
			resources = append(resources, m)
		}
	}
	if len(resources) < 3 {
		t.Fatalf("deploy/kubernetes has %d manifests, want the StatefulSet, the Services and the PodDisruptionBudget", len(resources))
	}
	args := append([]string{"run", kubeconform, "-strict", "-summary", "-output", "text",
		"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")}, resources...)
	cmd := exec.Command("go", args...)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubeconform: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "Invalid: 0, Errors: 0") || strings.Contains(string(res), "Valid: 0,") {
		t.Fatalf("kubeconform found problems:\n%s", res)
	}
	t.Logf("%s", res)
}

// writeStrictSchema writes a self-contained JSON schema for one kind: a
// reference into the document's own components, which it carries, with
// every object closed to fields it does not name (a typo is an error).
func writeStrictSchema(t *testing.T, openapiPath, name, out string) {
	t.Helper()
	data, err := os.ReadFile(openapiPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", openapiPath, err)
	}
	if doc.Components.Schemas[name] == nil {
		t.Fatalf("%s has no schema %s", openapiPath, name)
	}
	for _, s := range doc.Components.Schemas {
		closeObjects(s)
	}
	schema := map[string]any{
		"$schema":    "http://json-schema.org/draft-07/schema#",
		"$ref":       "#/components/schemas/" + name,
		"components": map[string]any{"schemas": doc.Components.Schemas},
	}
	b, err := json.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// closeObjects sets additionalProperties to false on every schema in v
// that lists its properties and says nothing of others.
func closeObjects(v any) {
	switch s := v.(type) {
	case map[string]any:
		if _, ok := s["properties"]; ok {
			if _, set := s["additionalProperties"]; !set {
				s["additionalProperties"] = false
			}
		}
		for _, child := range s {
			closeObjects(child)
		}
	case []any:
		for _, child := range s {
			closeObjects(child)
		}
	}
}
