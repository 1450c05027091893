package features

// newDefaultLimiter is the login limiter used when Config.Limiter is nil.
func newDefaultLimiter(Config) Limiter { return nil }
