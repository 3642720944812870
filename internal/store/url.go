package store

import "net/url"

// WithDatabase returns the connection string conn with its database
// replaced by name. URL and key=value strings are both handled; the latter
// gets dbname appended (a later key wins in libpq syntax).
func WithDatabase(conn, name string) string {
	u, err := url.Parse(conn)
	if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return conn + " dbname=" + name
}
