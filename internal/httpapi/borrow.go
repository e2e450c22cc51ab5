package httpapi

import (
	"crypto/ed25519"

	usher "github.com/usher-lm/usher"
)

// borrowToken signs the borrow token of a borrowed lease, or returns ""
// when the server has no identity to sign with.
func (s *Server) borrowToken(ls usher.Lease) (string, error) {
	if s.borrowSigner == nil {
		return "", nil
	}
	pub, ok := s.borrowSigner.Public().(ed25519.PublicKey)
	if !ok {
		return "", usher.Errorf(usher.EInternal, "the server identity is not an Ed25519 key")
	}
	return usher.SignBorrowToken(s.borrowSigner, usher.BorrowClaimsOf(ls, pub))
}
