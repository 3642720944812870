// Package web embeds the browser interface's files: the html/template pages
// under templates/ (layout.html plus one file per page) and the static
// assets under static/ (one stylesheet, one small script). Package
// internal/web parses the templates once at start-up and serves the assets
// under content-hashed URLs.
package web

import "embed"

// Templates holds templates/*.html.
//
//go:embed templates/*.html
var Templates embed.FS

// Static holds static/*: served under /static/ with a content hash in
// each name.
//
//go:embed static/*
var Static embed.FS

// I18n holds i18n/<language>/*.json: the translations of the pages'
// messages, keyed by their English text (package internal/i18n).
//
//go:embed i18n
var I18n embed.FS
