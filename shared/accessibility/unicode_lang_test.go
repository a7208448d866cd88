package accessibility_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

// Keyboards and input methods (macOS, some screen-reader and dictation tools) may send "ü"
// as "u" + U+0308: it is the same letter, and the same answer.
func TestDecomposedAnswerMatchesComposedOne(t *testing.T) {
	const composed, decomposed = "gr\u00fcn", "gru\u0308n"
	if got, want := accessibility.Normalize(decomposed), accessibility.Normalize(composed); got != want {
		t.Errorf("Normalize(%q) = %q, want %q", decomposed, got, want)
	}
	store, _ := accessibilitytest.NewStore()
	chals, _ := accessibilitytest.NewChallenges()
	now := time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	svc, err := accessibility.New(accessibility.Deps{
		Store: store, Challenges: chals, Mailer: accessibilitytest.NewMailer(&accessibilitytest.Mailbox{}),
		Sites:  challengetest.NewSites(challenge.SiteInfo{Sitekey: challengetest.DemoSitekey, Hostnames: []string{challengetest.DemoHostname}}),
		Signer: challengetest.Signer(), Tokens: &verifytest.Tokens{}, Visual: challengetest.NewStore(), Risk: &challengetest.Risk{}, Key: key, BaseURL: base, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const tok = "cga_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"
	if err := store.PutToken(ctx, accessibility.Token{Hash: accessibility.TokenHash(tok), Subject: "s", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i, answer := range []string{decomposed, "GRU\u0308N."} {
		id := accessibility.ChallengeIDPrefix + "0123456789abcdef0123456789abcde" + string(rune('0'+i))
		if err := chals.Put(ctx, accessibility.TextChallenge{ID: id, Sitekey: token.TestSitekey, Host: challengetest.DemoHostname,
			Answers: []string{accessibility.Normalize(composed)}, IssuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		res, err := svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: id, Answer: answer})
		if err != nil || !res.Pass {
			t.Errorf("answer %q to a question whose answer is %q: %+v %v, want a pass", answer, composed, res, err)
		}
	}
}
