package api

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestUpdateProjectRetention (issue 26): only instance admins set a project's retention and payload retention,
// over every protocol; they are shown by GetProject, a project may keep less than the instance but never more,
// and fields left unset are not changed.
func TestUpdateProjectRetention(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, protocol := range protocols {
		storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
			e := setupOver(t, st, protocol, func(d *Deps) { d.Retention = 30 * day })
			ctx := context.Background()
			update := func(c clients, r *hookdv1.UpdateProjectRequest) (*hookdv1.Project, error) {
				res, err := c.projects.UpdateProject(ctx, creq(r))
				if err != nil {
					return nil, err
				}
				return res.Msg.GetProject(), nil
			}
			for _, c := range []clients{e.admin, e.member, e.viewer, e.other} {
				_, err := update(c, &hookdv1.UpdateProjectRequest{Retention: durationpb.New(7 * day)})
				requireCode(t, err, connect.CodePermissionDenied, "UpdateProject")
			}
			p, err := update(e.root, &hookdv1.UpdateProjectRequest{Retention: durationpb.New(7 * day), PayloadRetention: durationpb.New(day)})
			require.NoError(t, err)
			require.Equal(t, 7*day, p.GetRetention().AsDuration())
			require.Equal(t, day, p.GetPayloadRetention().AsDuration())
			got, err := e.viewer.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{}))
			require.NoError(t, err)
			require.Equal(t, 7*day, got.Msg.GetProject().GetRetention().AsDuration(), "GetProject shows the settings")
			require.Equal(t, day, got.Msg.GetProject().GetPayloadRetention().AsDuration())

			p, err = update(e.root, &hookdv1.UpdateProjectRequest{Id: otherProjectID, PayloadRetention: durationpb.New(2 * day)})
			require.NoError(t, err)
			require.Nil(t, p.GetRetention(), "unset: the instance's")
			require.Equal(t, 2*day, p.GetPayloadRetention().AsDuration())

			for _, c := range []struct {
				req   *hookdv1.UpdateProjectRequest
				field string
			}{
				{&hookdv1.UpdateProjectRequest{Retention: durationpb.New(31 * day)}, "retention"},
				{&hookdv1.UpdateProjectRequest{Retention: durationpb.New(30 * time.Minute)}, "retention"},
				{&hookdv1.UpdateProjectRequest{Retention: durationpb.New(-day)}, "retention"},
				{&hookdv1.UpdateProjectRequest{PayloadRetention: durationpb.New(8 * day)}, "payload_retention"},
				{&hookdv1.UpdateProjectRequest{Retention: durationpb.New(2 * day), PayloadRetention: durationpb.New(3 * day)}, "payload_retention"},
			} {
				_, err := update(e.root, c.req)
				requireCode(t, err, connect.CodeInvalidArgument, c.field)
				requireField(t, err, c.field)
			}
			// Unchanged by the refused updates; zero resets to the instance's.
			p, err = update(e.root, &hookdv1.UpdateProjectRequest{Retention: durationpb.New(0)})
			require.NoError(t, err)
			require.Nil(t, p.GetRetention())
			require.Equal(t, day, p.GetPayloadRetention().AsDuration())
		})
	}
}

// TestEraseSubjectAPI (issue 26): EraseSubject needs ADMIN and a subject, erases only the caller's project's
// events about the subject and returns the counts.
func TestEraseSubjectAPI(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		require.NoError(t, le.e.st.CreateEventType(ctx, &store.EventType{ProjectID: auth.DefaultProjectID, Name: "order.created"}))
		for _, s := range []string{"cus_x", "cus_x", "cus_y"} {
			le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.created", Subject: s})
		}
		for _, c := range []logClients{le.member, le.viewer} {
			_, err := c.events.EraseSubject(ctx, creq(&hookdv1.EraseSubjectRequest{Subject: "cus_x"}))
			requireCode(t, err, connect.CodePermissionDenied, "EraseSubject")
		}
		_, err := le.admin.events.EraseSubject(ctx, creq(&hookdv1.EraseSubjectRequest{}))
		requireField(t, err, "subject")
		res, err := le.admin.events.EraseSubject(ctx, creq(&hookdv1.EraseSubjectRequest{Subject: "cus_x"}))
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Msg.GetEventsDeleted())
		require.Equal(t, res.Msg.GetDeliveriesCancelled(), res.Msg.GetDeliveriesDeleted(), "queued deliveries are cancelled first")
		list := func(subject string) int {
			l, err := le.admin.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{Subject: subject}))
			require.NoError(t, err)
			return len(l.Msg.GetEvents())
		}
		require.Zero(t, list("cus_x"))
		require.Equal(t, 1, list("cus_y"))
		l, err := le.admin.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{EventType: health.EventSubjectErased}))
		require.NoError(t, err)
		require.Len(t, l.Msg.GetEvents(), 1)
		require.NotContains(t, l.Msg.GetEvents()[0].GetPayload().String(), "cus_x")
	})
}
