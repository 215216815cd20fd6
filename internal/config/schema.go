package config

import (
	"encoding/json"

	"github.com/invopop/jsonschema"
)

// Schema returns the JSON Schema of the document, for editors (yaml-language-server)
// and for the Helm chart's values.schema.json. Every field is optional because
// defaults fill the gaps; unknown fields are rejected.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		DoNotReference:             true,
		ExpandedStruct:             true,
		RequiredFromJSONSchemaTags: true,
	}
	s := r.Reflect(&Config{})
	s.ID = "https://redlane.dev/schemas/v1alpha1/redlaneconfig.json"
	s.Title = "RedlaneConfig"
	s.Description = "Configuration of the Redlane service (" + APIVersion + ")."
	if p, ok := s.Properties.Get("apiVersion"); ok {
		p.Const = APIVersion
	}
	if p, ok := s.Properties.Get("kind"); ok {
		p.Const = Kind
	}
	return json.MarshalIndent(s, "", "  ")
}
