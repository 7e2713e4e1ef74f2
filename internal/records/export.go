package records

import (
	"encoding/json"
	"fmt"
	"os"
)

// ReadExport reads records saved with "kubeaccess list --all -o json" (a
// list whose items hold each record, its kind as credentialKind), or a
// JSON array of records. Such a file holds no certificates, so its
// records cannot be checked against them: it is as trustworthy as
// whoever saved it.
func ReadExport(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	var items []map[string]json.RawMessage
	var list struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &items); err != nil {
		if err := json.Unmarshal(data, &list); err != nil || list.Items == nil {
			return nil, fmt.Errorf("reading records from %s: want the output of kubeaccess list --all -o json", path)
		}
		items = list.Items
	}
	recs := make([]Record, 0, len(items))
	for i, item := range items {
		if own, ok := item["credentialKind"]; ok {
			item["kind"] = own
		}
		data, _ := json.Marshal(item)
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("reading records from %s: item %d: %w", path, i, err)
		}
		if r.ID == "" || (r.SHA256 == "" && r.JTI == "") {
			return nil, fmt.Errorf("reading records from %s: item %d names no credential (no id, sha256 or jti)", path, i)
		}
		recs = append(recs, r)
	}
	return recs, nil
}
