package converge

// Merge deep-merges the documents in order, later ones winning: objects merge
// key by key, while arrays, scalars and null replace whatever was there. The
// inputs are never modified, and the result shares no map or slice with them,
// so callers may change it freely.
func Merge(docs ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, d := range docs {
		mergeInto(out, d)
	}
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, sv)
				continue
			}
		}
		dst[k] = clone(v)
	}
}

// clone copies maps and slices so that a later merge into the result cannot
// reach back into an input.
func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = clone(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = clone(val)
		}
		return out
	}
	return v
}
