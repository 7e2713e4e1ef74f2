// Package controller is kubeaccess running in the cluster it guards: it
// takes time-bound access away when its time comes, and answers renewals
// of the certificates kubeaccess issued, approving a request only when its
// requester is that very certificate. It works from informers and
// workqueues, one loop each, and acts through the issuance engine and the
// lifecycle libraries (internal/revoke), as the commands do. Leader
// election and the HTTP endpoints are the caller's (kubeaccess
// controller): Run is what the leader runs.
package controller

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	kalabels "github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/lock"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Controller holds what the loops share.
type Controller struct {
	Client kubernetes.Interface
	// Engine approves renewals; every reconcile uses a fresh view of it,
	// so that it judges the bindings as they are.
	Engine           *issue.Engine
	RecordsNamespace string
	// MaxTTL bounds a renewed certificate's lifetime; ApprovalTimeout the
	// wait for the signer once a renewal is approved.
	MaxTTL          time.Duration
	ApprovalTimeout time.Duration
	// MaxOffline bounds the lifetime of the renewal identities it issues
	// to renewing credentials; 0 issues none.
	MaxOffline time.Duration
	// KeepRenewed is how long the record of a renewing credential's
	// certificate that a renewal replaced is kept once it has expired;
	// 0 keeps it for ever.
	KeepRenewed time.Duration
	Metrics     *Metrics
	Events      record.EventRecorder
	Logf        func(format string, args ...any)
	// Workers is how many items each loop works on at once.
	Workers int
	// ResyncPeriod is how often every record and request is looked at
	// again, whatever changed.
	ResyncPeriod time.Duration

	// Dynamic serves TeamAccess objects; without it (a cluster without
	// the CRD) teams are not reconciled.
	Dynamic dynamic.Interface
	// PortalURL is where kubeaccess serve is reached, for the links of the
	// invitations teams ask for; without it no one is invited.
	PortalURL string
	// WebhookAllow are the URL prefixes a team's invitations may be posted
	// to; HTTP posts them.
	WebhookAllow []string
	HTTP         *http.Client

	records  corelisters.ConfigMapNamespaceLister
	requests certlisters.CertificateSigningRequestLister
	teams    cache.GenericLister
	// What a team's reconcile reads, from informers.
	roles                   rbaclisters.RoleLister
	clusterRoles            rbaclisters.ClusterRoleLister
	roleBindingIndex        cache.Indexer
	clusterRoleBindingIndex cache.Indexer
	namespaces              corelisters.NamespaceLister
	serviceAccounts         corelisters.ServiceAccountLister
	// The teams' invitations, by team, when PortalURL is set.
	invitationIndex cache.Indexer
	// The admission policy that names a TeamAccess's author.
	policies       admissionlisters.ValidatingAdmissionPolicyLister
	policyBindings admissionlisters.ValidatingAdmissionPolicyBindingLister
	running        atomic.Bool
	synced         atomic.Bool
}

// Syncing reports whether Run has started and its informers have not read
// everything yet: a replica that leads is not ready until they have.
func (c *Controller) Syncing() bool { return c.running.Load() && !c.synced.Load() }

// loop is one workqueue and what reconciles its items.
type loop struct {
	name      string
	queue     workqueue.TypedRateLimitingInterface[string]
	reconcile func(ctx context.Context, key string) (outcome, error)
}

// outcome is what a reconcile came to: result names it for the metrics,
// and after, when set, asks for the item to be looked at again then.
type outcome struct {
	result string
	after  time.Duration
}

// Run starts the informers, waits for them to read everything, and works
// the queues until ctx ends; it returns once every worker has stopped.
func (c *Controller) Run(ctx context.Context) error {
	if c.Workers <= 0 {
		c.Workers = 2
	}
	c.running.Store(true)
	defer c.running.Store(false)
	// No informer keeps managedFields, which nothing here reads and which
	// are a good part of every object.
	strip := informers.WithTransform(stripManagedFields)
	recordInformers := informers.NewSharedInformerFactoryWithOptions(c.Client, c.ResyncPeriod, strip, informers.WithNamespace(c.RecordsNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = records.KindLabel }))
	requestInformers := informers.NewSharedInformerFactoryWithOptions(c.Client, c.ResyncPeriod, strip,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.signerName=" + certificatesv1.KubeAPIServerClientSignerName
		}))
	// Every role, binding and namespace, which a team's reconcile reads
	// from, at no request (teams only).
	teamInformers := informers.NewSharedInformerFactoryWithOptions(c.Client, c.ResyncPeriod, strip)
	cms := recordInformers.Core().V1().ConfigMaps()
	csrs := requestInformers.Certificates().V1().CertificateSigningRequests()
	c.records, c.requests = cms.Lister().ConfigMaps(c.RecordsNamespace), csrs.Lister()
	c.Metrics.credentials.use(c.records)
	defer c.Metrics.credentials.use(nil)

	expiry := &loop{name: "expiry", reconcile: c.reconcileExpiry,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "expiry"})}
	renewal := &loop{name: "renewal", reconcile: c.reconcileRenewal,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "renewal"})}
	teams := &loop{name: "team", reconcile: c.reconcileTeam,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "team"})}
	enqueueTeamOf := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		names, _ := teamsOf(obj)
		for _, name := range names {
			teams.queue.Add(name)
		}
	}
	enqueueRecord := func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			if id := records.IDOfObject(cm.Name); id != "" {
				expiry.queue.Add(id)
			}
			enqueueTeamOf(cm)
		}
	}
	enqueueRequest := func(obj any) {
		// Pending requests, and the controller's own approvals whose
		// certificate may be unrecorded (see recordApproved).
		if req, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && (len(req.Status.Conditions) == 0 || approvedRenewalOf(req) != "" && len(req.Status.Certificate) > 0) {
			renewal.queue.Add(req.Name)
		}
	}
	if _, err := cms.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueRecord, UpdateFunc: func(_, obj any) { enqueueRecord(obj) },
	}); err != nil {
		return err
	}
	if _, err := csrs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueRequest, UpdateFunc: func(_, obj any) { enqueueRequest(obj) },
	}); err != nil {
		return err
	}
	synced := []cache.InformerSynced{cms.Informer().HasSynced, csrs.Informer().HasSynced}
	loops := []*loop{expiry, renewal}
	if c.Dynamic != nil {
		// The team's objects, for drift; the TeamAccess objects, on a
		// change of their spec (a status write changes no generation).
		r := teamInformers.Rbac().V1()
		c.roles, c.clusterRoles = r.Roles().Lister(), r.ClusterRoles().Lister()
		for _, inf := range []cache.SharedIndexInformer{r.RoleBindings().Informer(), r.ClusterRoleBindings().Informer()} {
			if err := inf.AddIndexers(cache.Indexers{teamIndex: teamsOf}); err != nil {
				return err
			}
		}
		c.roleBindingIndex, c.clusterRoleBindingIndex = r.RoleBindings().Informer().GetIndexer(), r.ClusterRoleBindings().Informer().GetIndexer()
		namespaces, accounts := teamInformers.Core().V1().Namespaces(), teamInformers.Core().V1().ServiceAccounts()
		c.namespaces, c.serviceAccounts = namespaces.Lister(), accounts.Lister()
		synced = append(synced, namespaces.Informer().HasSynced, accounts.Informer().HasSynced)
		rbacInformers := []cache.SharedIndexInformer{r.Roles().Informer(), r.RoleBindings().Informer(), r.ClusterRoles().Informer(), r.ClusterRoleBindings().Informer()}
		for _, inf := range rbacInformers {
			if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueueTeamOf, UpdateFunc: func(_, obj any) { enqueueTeamOf(obj) }, DeleteFunc: enqueueTeamOf}); err != nil {
				return err
			}
			synced = append(synced, inf.HasSynced)
		}
		dyn := dynamicinformer.NewDynamicSharedInformerFactory(c.Dynamic, c.ResyncPeriod)
		tas := dyn.ForResource(TeamAccessGVR)
		c.teams = tas.Lister()
		if err := tas.Informer().SetTransform(stripManagedFields); err != nil {
			return err
		}
		enqueue := func(obj any) {
			if m, err := meta.Accessor(obj); err == nil {
				teams.queue.Add(m.GetName())
			}
		}
		if _, err := tas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(old, obj any) {
			o, _ := meta.Accessor(old)
			n, err := meta.Accessor(obj)
			if err == nil && (o == nil || o.GetGeneration() != n.GetGeneration() || n.GetDeletionTimestamp() != nil) {
				enqueue(obj)
			}
		}}); err != nil {
			return err
		}
		// The author policy, which every team's trust rests on: a
		// change to it looks at every team again.
		policyInformers := informers.NewSharedInformerFactoryWithOptions(c.Client, c.ResyncPeriod, strip,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + AuthorPolicyName }))
		adm := policyInformers.Admissionregistration().V1()
		c.policies, c.policyBindings = adm.ValidatingAdmissionPolicies().Lister(), adm.ValidatingAdmissionPolicyBindings().Lister()
		everyTeam := func(any) {
			all, _ := c.teams.List(labels.Everything())
			for _, obj := range all {
				enqueue(obj)
			}
		}
		for _, inf := range []cache.SharedIndexInformer{adm.ValidatingAdmissionPolicies().Informer(), adm.ValidatingAdmissionPolicyBindings().Informer()} {
			if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: everyTeam, UpdateFunc: func(_, obj any) { everyTeam(obj) }, DeleteFunc: everyTeam}); err != nil {
				return err
			}
			synced = append(synced, inf.HasSynced)
		}
		if c.PortalURL != "" {
			// The teams' invitations: each change of one (a link used,
			// say) looks at its team again.
			inviteInformers := informers.NewSharedInformerFactoryWithOptions(c.Client, c.ResyncPeriod, strip, informers.WithNamespace(c.RecordsNamespace),
				informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = invite.Label + "=true," + kalabels.Team }))
			inf := inviteInformers.Core().V1().Secrets().Informer()
			if err := inf.AddIndexers(cache.Indexers{teamIndex: teamsOf}); err != nil {
				return err
			}
			if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueueTeamOf, UpdateFunc: func(_, obj any) { enqueueTeamOf(obj) }, DeleteFunc: enqueueTeamOf}); err != nil {
				return err
			}
			c.invitationIndex = inf.GetIndexer()
			synced = append(synced, inf.HasSynced)
			inviteInformers.Start(ctx.Done())
			defer inviteInformers.Shutdown()
		}
		policyInformers.Start(ctx.Done())
		defer policyInformers.Shutdown()
		dyn.Start(ctx.Done())
		defer dyn.Shutdown()
		teamInformers.Start(ctx.Done())
		defer teamInformers.Shutdown()
		synced = append(synced, tas.Informer().HasSynced)
		loops = append(loops, teams)
	}
	recordInformers.Start(ctx.Done())
	requestInformers.Start(ctx.Done())
	defer recordInformers.Shutdown()
	defer requestInformers.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("reading the records, certificate requests and teams: %w", context.Cause(ctx))
	}
	c.synced.Store(true)
	defer c.synced.Store(false)
	c.Logf("reconciling: records in namespace %s, client-certificate requests", c.RecordsNamespace)

	var wg sync.WaitGroup
	wg.Go(func() { c.pruneLocks(ctx) })
	for _, l := range loops {
		for range c.Workers {
			wg.Go(func() {
				for c.next(ctx, l) {
				}
			})
		}
	}
	<-ctx.Done()
	for _, l := range loops {
		l.queue.ShutDownWithDrain()
	}
	wg.Wait()
	return nil
}

// lockPrunePeriod is how often expired credentials' locks are removed.
const lockPrunePeriod = 30 * time.Second

// pruneLocks removes the locks (kubeaccess lock) of credentials that have
// expired, now and every lockPrunePeriod until ctx ends: an expired
// credential authenticates nowhere, so its lock does nothing more.
func (c *Controller) pruneLocks(ctx context.Context) {
	store := lock.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	tick := time.NewTicker(lockPrunePeriod)
	defer tick.Stop()
	for {
		removed, err := store.Prune(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			c.Logf("locks: removing the locks of expired credentials: %v", err)
		}
		for _, id := range removed {
			c.Logf("locks: credential %s has expired: its lock is removed", id)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stripManagedFields drops an object's managedFields as an informer
// stores it. Updates made from such a copy leave the server's as they are.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// next reconciles one item of l; false once the queue shuts down.
func (c *Controller) next(ctx context.Context, l *loop) bool {
	key, shutdown := l.queue.Get()
	if shutdown {
		return false
	}
	defer l.queue.Done(key)
	start := time.Now()
	out, err := l.reconcile(ctx, key)
	if err != nil {
		c.Metrics.observe(l.name, "error", start)
		if ctx.Err() == nil {
			c.Logf("%s %s: %v (will retry)", l.name, key, err)
		}
		l.queue.AddRateLimited(key)
		return true
	}
	c.Metrics.observe(l.name, out.result, start)
	l.queue.Forget(key)
	if out.after > 0 {
		l.queue.AddAfter(key, out.after)
	}
	return true
}

// NewRecorder records the controller's Events through the API server,
// as host; stop flushes and ends it.
func NewRecorder(ctx context.Context, client kubernetes.Interface, host string) (rec record.EventRecorder, stop func()) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubeaccess-controller", Host: host}), broadcaster.Shutdown
}
