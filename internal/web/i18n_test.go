package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/i18n"
	ui "github.com/rdsgate/rdsgate/web"
)

// Messages are found where the code marks them: {{T "…"}} in templates
// and s.tr(c, "…") in the handlers.
var (
	templateMessage = regexp.MustCompile(`\bT\s+("(?:[^"\\]|\\.)*")`)
	goMessage       = regexp.MustCompile(`\btr\(c,\s*("(?:[^"\\]|\\.)*")`)
)

// TestEveryMessageTranslated holds the zh-CN catalogue complete: every
// message the templates and handlers mark has a translation.
func TestEveryMessageTranslated(t *testing.T) {
	cat, err := i18n.Load(ui.I18n, "i18n")
	if err != nil {
		t.Fatal(err)
	}
	zh := cat.Translations(i18n.Chinese)
	msgs := map[string]string{}
	collect := func(name string, body []byte, re *regexp.Regexp) {
		for _, m := range re.FindAllSubmatch(body, -1) {
			s, err := strconv.Unquote(string(m[1]))
			if err != nil {
				t.Fatalf("%s: %s: %v", name, m[1], err)
			}
			msgs[s] = name
		}
	}
	tmpls, err := fs.Glob(ui.Templates, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tmpls {
		body, err := fs.ReadFile(ui.Templates, p)
		if err != nil {
			t.Fatal(err)
		}
		collect(p, body, templateMessage)
	}
	gos, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range gos {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		collect(p, body, goMessage)
	}
	if len(msgs) < 10 {
		t.Fatalf("found only %d messages: the patterns no longer match the code", len(msgs))
	}
	for m, where := range msgs {
		if _, ok := zh[m]; !ok {
			t.Errorf("%s: %q has no zh-CN translation (web/i18n/zh-CN/*.json)", where, m)
		}
	}
}
