package testdb

import "net/url"

// replaceDatabase returns admin with its database name replaced. Both URL
// and key=value connection strings are handled; the latter gets dbname
// appended (a later key wins in libpq syntax).
func replaceDatabase(admin, name string) string {
	u, err := url.Parse(admin)
	if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return admin + " dbname=" + name
}
