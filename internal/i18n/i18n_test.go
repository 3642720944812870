package i18n

import (
	"testing"
	"testing/fstest"
)

func testCatalog(t *testing.T, files map[string]string) (*Catalog, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys["i18n/zh-CN/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return Load(fsys, "i18n")
}

func TestTranslateAndFallBack(t *testing.T) {
	c, err := testCatalog(t, map[string]string{"a.json": `{"Approve": "批准", "Still open: %d from %s": "仍需：%[2]s 的 %[1]d 票"}`})
	if err != nil {
		t.Fatal(err)
	}
	zh, en := c.Printer(Chinese), c.Printer(English)
	for _, tc := range []struct{ got, want string }{
		{zh.Sprintf("Approve"), "批准"},
		{en.Sprintf("Approve"), "Approve"},
		{zh.Sprintf("Still open: %d from %s", 1, "dba"), "仍需：dba 的 1 票"},
		{zh.Sprintf("Not translated %s", "x"), "Not translated x"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if zh.Code() != "zh-CN" || en.Code() != "en" {
		t.Errorf("codes %q %q", zh.Code(), en.Code())
	}
}

func TestLoadRefusesBrokenCatalogues(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"twice":   {"a.json": `{"Approve": "批准"}`, "b.json": `{"Approve": "同意"}`},
		"empty":   {"a.json": `{"Approve": " "}`},
		"verbs":   {"a.json": `{"%d left": "剩余"}`},
		"notjson": {"a.json": `{`},
	} {
		if _, err := testCatalog(t, files); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := testCatalog(t, map[string]string{"a.json": `{"Approve": "批准"}`, "b.json": `{"Approve": "批准"}`}); err != nil {
		t.Errorf("the same translation twice: %v", err)
	}
}

func TestMatch(t *testing.T) {
	c, err := testCatalog(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		choice, accept string
		want           string
	}{
		{"", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"},
		{"", "zh", "zh-CN"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "", "en"},
		{"", "fr-FR", "en"},
		{"", "garbage;;;q=x", "en"},
		{"en", "zh-CN", "en"},
		{"zh-CN", "en", "zh-CN"},
		{"klingon", "zh-CN", "zh-CN"},
	} {
		if got := Code(c.Match(tc.choice, tc.accept)); got != tc.want {
			t.Errorf("Match(%q, %q) = %s, want %s", tc.choice, tc.accept, got, tc.want)
		}
	}
}
