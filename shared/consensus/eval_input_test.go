package consensus

import (
	"strings"
	"testing"
)

func TestEvaluateBudgetIgnoresRepeatedAnswers(t *testing.T) {
	// Two answerers per item; w1's answer to a was exported four times. A repeat is never
	// applied (Update's Repeat), so the budget the data was collected with is still two.
	answers := "item,worker,label\n" +
		"a,w1,x\na,w1,x\na,w1,x\na,w1,x\na,w2,x\n" +
		"b,w1,y\nb,w2,y\nc,w1,x\nc,w2,y\n"
	truth := "item,label\na,x\nb,y\nc,x\n"
	rep, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Max != 2 {
		t.Errorf("budget %d, want 2: the most distinct answerers of an item", rep.Max)
	}
}

func TestEvaluateDefaultsOnOneAnswerPerItem(t *testing.T) {
	// Zero Min and Max mean the defaults and the file's overlap (1 here): the budget must not
	// fall below the default minimum and make the evaluation's own parameters invalid.
	answers := "item,worker,label\na,w1,x\nb,w1,y\nc,w2,x\n"
	truth := "item,label\na,x\nb,y\nc,x\n"
	rep, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{})
	if err != nil {
		t.Fatalf("default stopping rule on one answer per item: %v", err)
	}
	if rep.Max != DefaultMin || rep.Items != 3 {
		t.Errorf("%+v, want 3 items and budget %d (the default minimum)", rep, DefaultMin)
	}
}

func TestEvaluateReadsQuotedHeaderAfterBOM(t *testing.T) {
	// Spreadsheets and pandas (encoding utf-8-sig, QUOTE_ALL) write a byte-order mark
	// before a quoted header.
	const bom = "\ufeff"
	answers := bom + "\"item\",\"worker\",\"label\"\r\n\"a\",\"w1\",\"x\"\r\n\"a\",\"w2\",\"x\"\r\n\"b\",\"w1\",\"y\"\r\n\"b\",\"w2\",\"y\"\r\n"
	truth := bom + "\"item\",\"label\"\r\n\"a\",\"x\"\r\n\"b\",\"y\"\r\n"
	rep, err := Evaluate(strings.NewReader(answers), strings.NewReader(truth), EvalOptions{UseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 2 || rep.Accuracy != 1 || rep.Classes != 2 {
		t.Errorf("%+v, want 2 items, 2 classes, all right", rep)
	}
}
