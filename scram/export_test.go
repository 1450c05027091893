package scram

// SetServerNonce makes s use nonce as the server part of every combined
// nonce, so tests can reproduce published exchanges byte for byte.
func SetServerNonce(s *Server, nonce string) {
	s.nonce = func() []byte { return []byte(nonce) }
}
