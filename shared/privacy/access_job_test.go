package privacy_test

import (
	"encoding/json"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// A job's record in the access package shows everything the job holds that the customer
// set, its display names of the classes per language and the language of its items too
// (both typed in by the customer like the name and the questions; they were missing).
func TestAccessPackageShowsAJobsClassNamesAndItemLanguage(t *testing.T) {
	w := newWorld(t, 2)
	j := w.h.Jobs[w.janeJobs[0]]
	j.ClassNames = map[string][]string{"de": {"ja", "nein"}, "fr": {"oui", "non"}}
	j.ItemLang = "pt-BR"
	w.h.Jobs[j.ID] = j

	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	w.approveAndRun(t, r.ID)
	raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
	if !ok {
		t.Fatal("no package")
	}
	var p pkg
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	for _, rec := range p.Records {
		if rec.Kind != privacy.KindJob || rec.ID != j.ID {
			continue
		}
		want := map[string]string{"class_names_de": "ja | nein", "class_names_fr": "oui | non", "item_lang": "pt-BR", "classes": "yes | no"}
		for field, v := range want {
			if rec.Fields[field] != v {
				t.Errorf("job record's %s = %q, want %q (record %v)", field, rec.Fields[field], v, rec.Fields)
			}
		}
		return
	}
	t.Fatalf("no record of job %s in the package", j.ID)
}
