package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of Report, derived from
// the Go types: property names and optionality from the json tags,
// descriptions from the desc tags. docs/audit.md embeds it, and a test
// keeps the two equal.
func JSONSchema() ([]byte, error) {
	defs := map[string]any{}
	root := schemaOf(reflect.TypeOf(Report{}), defs)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "warden audit report"
	root["$defs"] = defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	verdictType = reflect.TypeOf(Verdict(""))
)

func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == verdictType:
		enum := make([]any, len(Verdicts))
		for i, v := range Verdicts {
			enum[i] = string(v)
		}
		return map[string]any{"type": "string", "enum": enum}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), defs)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Struct:
		obj := map[string]any{"type": "object", "additionalProperties": false}
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			p := schemaOf(f.Type, defs)
			if f.Type.Kind() == reflect.Struct && f.Type != timeType || f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
				st := f.Type
				if st.Kind() == reflect.Pointer {
					st = st.Elem()
				}
				defs[st.Name()] = p
				p = map[string]any{"$ref": "#/$defs/" + st.Name()}
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				defs[f.Type.Elem().Name()] = p["items"]
				p["items"] = map[string]any{"$ref": "#/$defs/" + f.Type.Elem().Name()}
			}
			if d := f.Tag.Get("desc"); d != "" {
				if _, ref := p["$ref"]; ref {
					p = map[string]any{"allOf": []any{p}, "description": d}
				} else {
					p["description"] = d
				}
			}
			props[name] = p
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		obj["properties"] = props
		if len(required) > 0 {
			obj["required"] = required
		}
		return obj
	}
	return map[string]any{}
}
