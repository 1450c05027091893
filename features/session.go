package features

import (
	"context"
	"encoding/xml"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// NSSession is the session-establishment namespace of RFC 3921 §3, which RFC
// 6121 Appendix E removed but which clients such as Psi 1.5 still use: they
// send the session IQ after binding and disconnect when it fails.
const NSSession = "urn:ietf:params:xml:ns:xmpp-session"

var sessionName = xml.Name{Space: NSSession, Local: "session"}

// SessionAdvertisement returns the informational stream feature
// <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>,
// listed next to resource binding as Prosody does: <optional/> tells current
// clients to skip the step (RFC 6121 Appendix E). The IQ an old client sends
// anyway arrives after the session is ready; HandleSession answers it.
func SessionAdvertisement() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       sessionName,
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			optional := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "optional"}})
			_, err := xmlstream.Copy(e, xmlstream.Wrap(optional, start))
			return false, err
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return false, nil, d.Skip()
		},
	}
}

// HandleSession returns the mux option that answers the RFC 3921 session IQ
// (<iq type='set'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>)
// with an empty result, as RFC 6121 Appendix E asks of servers that
// advertise it.
func HandleSession() mux.Option {
	return mux.IQFunc(stanza.SetIQ, sessionName, func(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
		_, err := xmlstream.Copy(t, iq.Result(nil))
		return err
	})
}
