package job

import (
	"encoding/base64"
	"strings"
)

// A listing cursor is opaque to customers: base64url of "<scope>/<position>", where scope
// names the listing it belongs to (a job's items: the job id; a customer's jobs: the
// customer id) and position is where the next page starts. A cursor names its listing
// because one of another listing (another job's items, another customer's jobs) would
// otherwise be read as a position in this one and silently skip what comes before it.
// Every listing of the customer API builds and checks its cursors here.

// encodeCursor is the cursor continuing listing scope after position. scope must not
// contain "/" (ids cannot).
func encodeCursor(scope, position string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "/" + position))
}

// decodeCursor returns the position of a cursor encodeCursor made for scope; ok is false
// for anything else (not base64url, no scope, another scope). The caller still checks
// the position's own form.
func decodeCursor(cursor, scope string) (position string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", false
	}
	got, position, ok := strings.Cut(string(b), "/")
	if !ok || got != scope {
		return "", false
	}
	return position, true
}
