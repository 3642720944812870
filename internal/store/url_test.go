package store

import "testing"

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/postgres?sslmode=disable": "postgres://u:p@h:5432/rdsgate?sslmode=disable",
		"postgresql://h/other":                           "postgresql://h/rdsgate",
		"postgres://h":                                   "postgres://h/rdsgate",
		"host=h user=u dbname=postgres":                  "host=h user=u dbname=postgres dbname=rdsgate",
	} {
		if got := WithDatabase(in, "rdsgate"); got != want {
			t.Errorf("WithDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}
