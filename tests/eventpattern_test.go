package tests

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// matchPattern reports whether event (decoded JSON) matches an EventBridge
// event pattern, for the pattern features template.yaml uses: nested
// objects (an array of objects in the event matches when any of its
// objects does, as EventBridge's flattening means), lists of exact values,
// $or, and the content filters prefix,
// suffix, anything-but, exists, equals-ignore-case and wildcard ('*' any
// run of characters, as EventBridge and IAM mean it). An unsupported filter is an
// error, so the test cannot pass by ignoring part of a pattern.
func matchPattern(pattern map[string]any, event any) (bool, error) {
	obj, ok := event.(map[string]any)
	if !ok {
		return false, nil
	}
	for key, want := range pattern {
		if key == "$or" {
			alts, ok := want.([]any)
			if !ok {
				return false, fmt.Errorf("$or must be a list of patterns")
			}
			matched := false
			for _, alt := range alts {
				m, ok := alt.(map[string]any)
				if !ok {
					return false, fmt.Errorf("$or member %v is not a pattern", alt)
				}
				ok, err := matchPattern(m, event)
				if err != nil {
					return false, err
				}
				matched = matched || ok
			}
			if !matched {
				return false, nil
			}
			continue
		}
		got, present := obj[key]
		switch w := want.(type) {
		case map[string]any:
			if !present {
				return false, nil
			}
			if list, isList := got.([]any); isList {
				any := false
				for _, elem := range list {
					ok, err := matchPattern(w, elem)
					if err != nil {
						return false, err
					}
					any = any || ok
				}
				if !any {
					return false, nil
				}
				continue
			}
			ok, err := matchPattern(w, got)
			if err != nil || !ok {
				return false, err
			}
		case []any:
			ok, err := matchValues(w, got, present)
			if err != nil || !ok {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern key %q: a value must be an object or a list, not %T", key, want)
		}
	}
	return true, nil
}

// matchValues matches one field against a list of allowed values or
// filters. When the event field is a list, any element may match.
func matchValues(allowed []any, got any, present bool) (bool, error) {
	if list, ok := got.([]any); ok {
		for _, g := range list {
			if ok, err := matchValues(allowed, g, true); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	for _, a := range allowed {
		switch f := a.(type) {
		case map[string]any:
			ok, err := matchFilter(f, got, present)
			if err != nil || ok {
				return ok, err
			}
		default:
			if present && fmt.Sprint(f) == fmt.Sprint(got) {
				return true, nil
			}
		}
	}
	return false, nil
}

func matchFilter(f map[string]any, got any, present bool) (bool, error) {
	if len(f) != 1 {
		return false, fmt.Errorf("content filter %v must have one key", f)
	}
	for op, arg := range f {
		s, isString := got.(string)
		switch op {
		case "exists":
			return present == (arg == true), nil
		case "prefix":
			return present && isString && strings.HasPrefix(s, fmt.Sprint(arg)), nil
		case "suffix":
			return present && isString && strings.HasSuffix(s, fmt.Sprint(arg)), nil
		case "equals-ignore-case":
			return present && isString && strings.EqualFold(s, fmt.Sprint(arg)), nil
		case "wildcard":
			return present && isString && glob.Match(fmt.Sprint(arg), s), nil
		case "anything-but":
			if !present {
				return false, nil
			}
			var excluded []any
			switch a := arg.(type) {
			case []any:
				excluded = a
			case map[string]any:
				ok, err := matchFilter(a, got, present)
				return !ok, err
			default:
				excluded = []any{a}
			}
			for _, e := range excluded {
				if fmt.Sprint(e) == fmt.Sprint(got) {
					return false, nil
				}
			}
			return true, nil
		default:
			return false, fmt.Errorf("content filter %q is not supported by this test's matcher", op)
		}
	}
	return false, nil
}
