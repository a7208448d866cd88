package strictjson_test

import (
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/shared/strictjson"
)

func TestDecode(t *testing.T) {
	type body struct {
		A int `json:"a"`
	}
	cases := []struct {
		in       string
		trailing bool
		ok       bool
	}{
		{`{"a":1}`, false, true},
		{" {\"a\":1}\n", false, true},
		{`{"a":1}}`, true, false},
		{`{"a":1}]`, true, false},
		{`{"a":1}{"a":2}`, true, false},
		{`{"a":1} x`, true, false},
		{`{"a":1,"b":2}`, false, false},
		{`{"a":"1"}`, false, false},
		{``, false, false},
	}
	for _, c := range cases {
		var b body
		err := strictjson.Decode([]byte(c.in), &b)
		if (err == nil) != c.ok || errors.Is(err, strictjson.ErrTrailingData) != c.trailing {
			t.Errorf("Decode(%q) = %v; want ok %v, trailing %v", c.in, err, c.ok, c.trailing)
		}
		if c.ok && b.A != 1 {
			t.Errorf("Decode(%q) gave %+v", c.in, b)
		}
	}
}
