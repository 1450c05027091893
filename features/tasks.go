package features

import (
	"context"
	"crypto"
	"crypto/rand"
	_ "crypto/sha1" // the hashes of the SCRAM credentials
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"mellium.im/xmlstream"

	"github.com/xmppauth/xmppauth/scram"
)

// upgradePrefix is XEP-0480's prefix of upgrade task names.
const upgradePrefix = "UPGR-"

// upgradeTasks lists the XEP-0480 tasks this server offers: "UPGR-" and the
// name of each enabled SCRAM mechanism stronger than SHA-1 (without -PLUS,
// as the XEP requires), when the Store can replace credentials.
func (s *Server) upgradeTasks() []string {
	if s.cfg.DisableSASL2 || s.cfg.DisableUpgradeTasks {
		return nil
	}
	if _, ok := s.cfg.Store.(CredentialUpdater); !ok {
		return nil
	}
	var out []string
	for _, m := range s.scram {
		if m.mech.Plus() || m.mech.Hash() == crypto.SHA1 {
			continue
		}
		out = append(out, upgradePrefix+m.mech.Name())
	}
	return out
}

// upgradeHash is the hash of an offered upgrade task.
func upgradeHash(task string) (crypto.Hash, bool) {
	if len(task) <= len(upgradePrefix) || task[:len(upgradePrefix)] != upgradePrefix {
		return 0, false
	}
	m, ok := scram.MechanismByName(task[len(upgradePrefix):])
	if !ok || m.Plus() {
		return 0, false
	}
	return m.Hash(), true
}

// runTasks runs the XEP-0480 SCRAM upgrade tasks the client requested and
// the account needs (no credential for the hash, or fewer iterations than
// Config.Iterations), one <continue/> each, the first carrying the
// mechanism's additional data. It reports whether it sent a <continue/>.
//
// Only after a channel-bound SCRAM login: the client sends its
// SaltedPassword for the new hash, which the server stores as the new
// credential without being able to check it; without channel binding a
// man in the middle who relayed the SCRAM exchange could substitute one of
// his own and keep the account. PLAIN logins upgrade on the server
// (CredentialUpdater); FAST and EXTERNAL know no password.
func (c *Login) runTasks(ctx context.Context, st *exchangeStream, r *authenticated) (bool, error) {
	s := c.srv
	req := r.begin.req
	if len(req.upgrades) == 0 || len(st.o.upgrades) == 0 {
		return false, nil
	}
	if _, ok := r.m.(*scramMechanism); !ok {
		return false, nil
	}
	account := r.id.JID.String()
	if r.id.ChannelBinding == "" {
		s.log.DebugContext(ctx, "sasl2: upgrade task skipped: login not channel-bound", "jid", account)
		return false, nil
	}
	updater := s.cfg.Store.(CredentialUpdater) // upgrades are offered only then
	type task struct {
		name string
		hash crypto.Hash
		had  int
	}
	var todo []task
	for _, name := range req.upgrades {
		h, ok := upgradeHash(name)
		if !ok || !slices.Contains(st.o.upgrades, name) || slices.ContainsFunc(todo, func(t task) bool { return t.hash == h }) {
			continue
		}
		cred, err := s.cfg.Store.Credential(ctx, account, h)
		switch {
		case err == nil && cred.Iterations >= s.cfg.Iterations:
			continue // nothing to upgrade: straight to <success/>
		case err != nil && !errors.Is(err, scram.ErrUnknownUser):
			s.log.WarnContext(ctx, "sasl2: upgrade task skipped: store failed", "jid", account, "err", err)
			continue
		}
		todo = append(todo, task{name: name, hash: h, had: cred.Iterations})
	}
	for i, t := range todo {
		var additional []byte
		if i == 0 {
			additional = r.out
		}
		if err := writeContinue(st.w, additional, t.name); err != nil {
			return false, fatalError{err}
		}
		el, err := st.expect(ctx, elNext, errBadTask)
		if err == nil && el.mechanism != t.name {
			err = errBadTask
		}
		if err != nil {
			return false, st.failUnlessFatal(ctx, r.a, err)
		}
		salt := make([]byte, s.cfg.SaltLen)
		if _, err := rand.Read(salt); err != nil {
			return false, st.fail(ctx, r.a, fmt.Errorf("%w: %w", scram.ErrNoResources, err))
		}
		if err := writeSaltTask(st.w, salt, s.cfg.Iterations); err != nil {
			return false, fatalError{err}
		}
		el, err = st.expect(ctx, elTaskData, errBadTask)
		if err == nil && len(el.payload) != t.hash.Size() {
			err = errBadTask
		}
		if err != nil {
			return false, st.failUnlessFatal(ctx, r.a, err)
		}
		cred := scram.CredentialFromSaltedPassword(t.hash, el.payload, salt, s.cfg.Iterations)
		if err := updater.SetCredential(ctx, account, t.hash, cred); err != nil {
			return false, st.fail(ctx, r.a, fmt.Errorf("%w: %w", scram.ErrStore, err))
		}
		s.log.InfoContext(ctx, "credential upgraded", "jid", account, "hash", t.hash.String(),
			"iterations", s.cfg.Iterations, "had", t.had, "by", "xep-0480")
	}
	return len(todo) > 0, nil
}

// writeContinue writes XEP-0388's <continue/> with one task.
func writeContinue(w xmlstream.TokenWriteFlusher, additional []byte, taskName string) error {
	var inner []xml.TokenReader
	if len(additional) > 0 {
		inner = append(inner, additionalData(additional))
	}
	inner = append(inner,
		xmlstream.Wrap(textElement("task", taskName), xml.StartElement{Name: xml.Name{Local: "tasks"}}),
		textElement("text", "upgrading the stored credential as the client requested"))
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "continue"}})); err != nil {
		return err
	}
	return w.Flush()
}

// writeSaltTask writes the XEP-0480 §3 <task-data/> with the salt and
// iteration count of the new credential.
func writeSaltTask(w xmlstream.TokenWriteFlusher, salt []byte, iterations int) error {
	el := xmlstream.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(salt))), xml.StartElement{
			Name: xml.Name{Space: NSSCRAMUpgrade, Local: "salt"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "iterations"}, Value: strconv.Itoa(iterations)}},
		}),
		xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "task-data"}})
	if _, err := xmlstream.Copy(w, el); err != nil {
		return err
	}
	return w.Flush()
}
