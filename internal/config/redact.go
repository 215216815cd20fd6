package config

import (
	"encoding/json"
	"net/url"
	"reflect"
)

// Redacted is the placeholder shown instead of a secret.
const Redacted = "REDACTED"

// Redact returns a deep copy of c in which every field tagged secret:"true"
// is replaced by REDACTED; URLs keep their scheme and host and lose only the
// password, so an operator can still see where Redlane connects.
func Redact(c *Config) *Config {
	out := Clone(c)
	redactValue(reflect.ValueOf(out).Elem())
	return out
}

// Clone deep-copies a document.
func Clone(c *Config) *Config {
	b, err := json.Marshal(c)
	if err != nil {
		panic("config: cannot marshal config: " + err.Error()) // only plain data types: cannot happen
	}
	out := &Config{}
	if err := json.Unmarshal(b, out); err != nil {
		panic("config: cannot unmarshal config: " + err.Error())
	}
	return out
}

func redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := v.Field(i)
			if t.Field(i).Tag.Get("secret") == "true" && f.Kind() == reflect.String {
				f.SetString(redactString(f.String()))
				continue
			}
			redactValue(f)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			redactValue(v.Index(i))
		}
	}
}

func redactString(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, Redacted)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return Redacted
}
