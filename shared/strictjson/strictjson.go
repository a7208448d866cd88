// Package strictjson decodes a body that must be exactly one JSON value of a known shape.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrTrailingData is returned when data holds more than one JSON value.
var ErrTrailingData = errors.New("trailing data after the JSON value")

// Decode decodes data into v and refuses fields v does not have and anything after the
// value. json.Unmarshal would accept unknown fields; a Decoder alone stops after the first
// value, and its More() is false before a stray '}' or ']', so only a second Decode
// reaching EOF proves the value was all of data.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := dec.Decode(&json.RawMessage{}); err != io.EOF {
		return ErrTrailingData
	}
	return nil
}
