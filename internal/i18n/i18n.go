// Package i18n holds rdsgate's user interface languages: English, in which
// the code and templates are written, and Simplified Chinese, from a
// catalogue that maps each English message to its translation
// (web/i18n/zh-CN/*.json). Messages are keyed by their English text, as
// gettext does, so a message without a translation shows in English rather
// than as a key. Formatting and plural-free substitution are
// golang.org/x/text/message's; choosing a language from Accept-Language is
// golang.org/x/text/language's matcher.
package i18n

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The languages of the interface. English is the default and the source.
var (
	English = language.English
	Chinese = language.SimplifiedChinese
)

// Supported lists the interface's languages, the default first.
var Supported = []language.Tag{English, Chinese}

// Catalog holds every translation and answers which language a visitor
// gets. It is safe for concurrent use once built.
type Catalog struct {
	cat     *catalog.Builder
	matcher language.Matcher
	// keys are the translated messages per language (for the
	// completeness test and tools).
	keys map[language.Tag]map[string]string
}

// Load reads dir/<tag>/*.json from fsys: each file an object of English
// message to translation. A message translated twice differently, an empty
// translation or a translation whose format verbs differ from the
// message's is an error, so a broken catalogue stops the server at start.
func Load(fsys fs.FS, dir string) (*Catalog, error) {
	c := &Catalog{cat: catalog.NewBuilder(catalog.Fallback(English)), matcher: language.NewMatcher(Supported),
		keys: map[language.Tag]map[string]string{}}
	for _, tag := range Supported[1:] {
		files, err := fs.Glob(fsys, path.Join(dir, Code(tag), "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		all := map[string]string{}
		for _, f := range files {
			body, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for k, v := range m {
				if strings.TrimSpace(v) == "" {
					return nil, fmt.Errorf("%s: %q has an empty translation", f, k)
				}
				if prev, ok := all[k]; ok && prev != v {
					return nil, fmt.Errorf("%s: %q is translated twice: %q and %q", f, k, prev, v)
				}
				if a, b := verbs(k), verbs(v); a != b {
					return nil, fmt.Errorf("%s: %q has verbs %q but its translation has %q", f, k, a, b)
				}
				all[k] = v
				if err := c.cat.SetString(tag, k, v); err != nil {
					return nil, fmt.Errorf("%s: %q: %w", f, k, err)
				}
			}
		}
		c.keys[tag] = all
	}
	return c, nil
}

// verbs lists the format verbs of s, sorted, so that a translation that
// drops one or changes its kind is caught (x/text would print
// %!v(MISSING)); explicit indexes (%[2]s) may reorder them.
func verbs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			continue
		}
		i++
		for i < len(s) && strings.IndexByte("+-# 0123456789.[]", s[i]) >= 0 {
			i++
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	v := []byte(b.String())
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return string(v)
}

// Translations returns the catalogue of tag: English message to
// translation. The map must not be changed.
func (c *Catalog) Translations(tag language.Tag) map[string]string { return c.keys[tag] }

// Match returns the supported language for a stored choice (a cookie's
// value, which wins when it names a supported language) and an
// Accept-Language header.
func (c *Catalog) Match(choice, acceptLanguage string) language.Tag {
	if t, ok := Parse(choice); ok {
		return t
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return English
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return English
	}
	return Supported[i]
}

// Parse returns the supported language s names ("en", "zh-CN", "zh"), and
// false for anything else.
func Parse(s string) (language.Tag, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "en", "en-us", "en-gb":
		return English, true
	case "zh", "zh-cn", "zh-hans", "zh-hans-cn":
		return Chinese, true
	}
	return language.Und, false
}

// Printer formats messages in one language.
type Printer struct {
	tag language.Tag
	p   *message.Printer
}

// Printer returns the printer of tag.
func (c *Catalog) Printer(tag language.Tag) *Printer {
	return &Printer{tag: tag, p: message.NewPrinter(tag, message.Catalog(c.cat))}
}

// Sprintf translates format and substitutes args, like fmt.Sprintf.
func (p *Printer) Sprintf(format string, args ...any) string { return p.p.Sprintf(format, args...) }

// Tag is the printer's language.
func (p *Printer) Tag() language.Tag { return p.tag }

// Code is the language as HTML's lang attribute and the switch name it:
// "en" or "zh-CN".
func (p *Printer) Code() string { return Code(p.tag) }

// Code names tag as the interface does: "en" or "zh-CN".
func Code(tag language.Tag) string {
	if tag == Chinese {
		return "zh-CN"
	}
	return "en"
}
