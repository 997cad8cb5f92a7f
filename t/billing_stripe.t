#!/usr/bin/perl

# Billing through Stripe (a fake, t/tools/fake-stripe, that sends signed
# webhooks): an organizer goes free -> pro through Checkout and webhooks,
# opens the customer portal, falls into a grace period when a payment
# fails and back to free after it, recovers, and goes back to free when
# the subscription is deleted.  Every POST to Stripe is form-encoded with
# a pinned Stripe-Version and an Idempotency-Key; nothing a webhook says
# can move the tier wrongly (older events after newer ones, duplicates,
# replays); bad input gets a clear error.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::FakeStripe;

plan(skip_all => 'node and npm are needed for the fake Stripe')
    unless ConfHaven::FakeStripe->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2);

my $s = ConfHaven::FakeStripe->start($t, 9);
my $stripe = $s->conf(grace => '3s');

$t->write_conf(<<"EOF");
thread_pool stripe threads=4;

http {
    confhaven_pg_server "%%DSN%%";
$stripe
    server {
        listen 127.0.0.1:%%PORT_1%%;

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
            client_max_body_size 4m;
            client_body_buffer_size 16k;
        }

        location = /metrics {
            confhaven_metrics on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
$t->run();

my $J = JSON::PP->new->canonical;
my $admin = ['Authorization' => 'Bearer ' . $t->admin_key];

sub req {
    my ($method, $path, @h) = @_;
    my $body;
    $body = pop @h if @h % 2;
    return $t->http($method, $path, headers => \@h, timeout => 60,
                    defined $body ? (body => $body,
                                     content_type => 'application/json')
                                  : ());
}

# an organizer and its key
my $r = req('POST', '/api/admin/organizers?name=Acme%20Events', @$admin);
is($r->{status}, 201, 'an organizer');
my $org = $r->{json}{id};
$r = req('POST', "/api/admin/organizers/$org/keys?label=billing", @$admin);
my $key = $r->{json}{key};
like($key, qr/^chk_/, '... and its key');

sub me {
    my $r = req('GET', '/api/organizer', 'X-API-Key' => $key);
    return $r->{json};
}

is(me()->{billing}{tier}, 'free', 'GET /api/organizer: billing.tier is free');
is(me()->{billing}{status}, 'none', '... billing.status none');

# wait until the organizer's tier is $want (webhooks are asynchronous to
# the control call only when the fake retries; a bound, not a measure)
sub tier_becomes {
    my ($want) = @_;
    for (1 .. 100) {
        return 1 if (me()->{billing}{tier} // '') eq $want;
        sleep 0.1;
    }
    return 0;
}

# ---- checkout: bad input first

$r = req('POST', '/api/organizer/billing/checkout', '{"tier":"pro"}');
is($r->{status}, 401, 'checkout without a key: 401');
is($r->{json}{error}{code}, 'unauthorized', '... unauthorized');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => 'chk_nope',
         '{"tier":"pro"}');
is($r->{status}, 401, 'checkout with an unknown key: 401');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"free"}');
is($r->{status}, 400, 'checkout for free: 400');
like($r->{json}{error}{message}, qr/free tier needs no checkout/,
     '... with a clear message');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"gold"}');
is($r->{status}, 400, 'checkout for an unknown tier: 400');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key, '');
is($r->{status}, 400, 'checkout without a tier: 400');
like($r->{json}{error}{message}, qr/tier .* required/, '... names the tier');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"pro","extra":1}');
is($r->{status}, 400, 'an unknown body member: 400');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '[1,2');
is($r->{status}, 400, 'a body that is not JSON: 400');

$r = req('GET', '/api/organizer/billing/checkout', 'X-API-Key' => $key);
is($r->{status}, 405, 'GET on checkout: 405');

$r = req('POST', '/api/organizer/billing/portal', 'X-API-Key' => $key);
is($r->{status}, 409, 'portal before any checkout: 409');
like($r->{json}{error}{message}, qr/no Stripe customer yet/,
     '... "no Stripe customer yet"');

is(scalar @{ $s->requests }, 0, 'no request reached Stripe so far');

# ---- free -> pro

$r = req('POST', '/api/organizer/billing/checkout', 'Authorization' => "Bearer $key",
         '{"tier":"pro"}');
is($r->{status}, 200, 'checkout for pro: 200');
my $cs = $r->{json}{id} // '';
like($cs, qr/^cs_test_/, '... a Checkout Session id');
like($r->{json}{url} // '', qr{^https://checkout\.stripe\.com/}, '... its URL');

my @reqs = @{ $s->requests };
is(scalar @reqs, 1, 'one request to Stripe');
my $q = $reqs[0];
is($q->{method} . ' ' . $q->{path}, 'POST /v1/checkout/sessions',
   '... POST /v1/checkout/sessions');
is($q->{stripe_version}, '2025-03-31.basil', '... with the pinned Stripe-Version');
like($q->{idempotency_key} // '', qr/^confhaven-checkout-\d+-[0-9a-f]{16}$/,
     '... an Idempotency-Key');
like($q->{content_type}, qr{^application/x-www-form-urlencoded},
     '... form-encoded');
like($q->{body}, qr/(^|&)mode=subscription(&|$)/, '... mode=subscription');
like($q->{body}, qr/(^|&)client_reference_id=$org(&|$)/,
     '... client_reference_id is the organizer');
like($q->{body}, qr/subscription_data\[metadata\]\[organizer_id\]=$org(&|$)/,
     '... and so is the subscription metadata');
like($q->{body}, qr/line_items\[0\]\[price\]=price_pro_monthly/,
     '... the pro price');
unlike($q->{body}, qr/customer=/, '... no customer yet (Checkout makes one)');

# a double click: the same key, the same session (replayed by Stripe)
$r = req('POST', '/api/organizer/billing/checkout?tier=pro', 'X-API-Key' => $key);
is($r->{status}, 200, 'the same checkout again (?tier=): 200');
@reqs = @{ $s->requests };
# "confhaven-checkout-<10-minute bucket>-<hash of the form>"
my ($b1, $h1) = $q->{idempotency_key} =~ /-(\d+)-([0-9a-f]+)$/;
my ($b2, $h2) = ($reqs[1]{idempotency_key} // '') =~ /-(\d+)-([0-9a-f]+)$/;
is($h2, $h1, '... the Idempotency-Key is derived from the request, not random');
SKIP: {
    skip 'the two requests straddled a 10-minute bucket', 3 if $b1 != $b2;
    is($reqs[1]{idempotency_key}, $q->{idempotency_key}, '... the same Idempotency-Key');
    ok($reqs[1]{replayed}, '... which Stripe replayed');
    is($r->{json}{id}, $cs, '... the same session');
}

# the organizer pays
my $done = $s->control('POST', "checkout/$cs/complete", { outcome => 'paid' });
my $sub = $done->{subscription};
like($sub // '', qr/^sub_/, 'the fake completed the checkout');
ok(tier_becomes('pro'), 'the webhooks made the organizer pro');
my $me = me();
is($me->{billing}{status}, 'active', '... status active');
is($me->{tier}, 'pro', '... the tier in force (top-level) too');
ok($me->{billing}{current_period_end}, '... with a renewal date');
is($me->{billing}{cancel_at_period_end}, JSON::PP::false, '... not cancelling');

my @del = grep { $_->{event} } @{ $s->deliveries };
is(scalar(grep { $_->{status} != 200 } @del), 0,
   'every delivery of the checkout answered 200');
is(scalar(grep { $_->{type} eq 'customer.created' && $_->{answer}{outcome} =~ /^ignored/ } @del), 1,
   'customer.created (a type billing does not handle): acknowledged, ignored');
my ($cnt) = $t->psql("SELECT count(*) FROM confhaven.stripe_events");
is($cnt, 4, 'the four events are recorded');
is($t->psql("SELECT stripe_customer_id IS NOT NULL AND stripe_subscription_id = '$sub' "
            . "FROM confhaven.organizers WHERE id = $org"), 't',
   'the organizer is linked to its customer and subscription');

my @gets = grep { $_->{method} eq 'GET' } @{ $s->requests };
ok(@gets >= 3, 'the subscription was fetched from Stripe for the events');
ok(!(grep { defined $_->{idempotency_key} } @gets), '... GETs carry no Idempotency-Key');
ok(!(grep { ($_->{stripe_version} // '') ne '2025-03-31.basil' } @{ $s->requests }),
   'every request pins Stripe-Version');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"pro"}');
is($r->{status}, 409, 'checkout for the tier in force: 409');
like($r->{json}{error}{message}, qr/pro tier is already in force/, '... says so');
is($r->{json}{error}{code}, 'conflict', '... code conflict');

$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"enterprise"}');
is($r->{status}, 409, 'a second subscription through checkout: 409');
like($r->{json}{error}{hint}, qr/portal/, '... the hint names the portal');

# ---- the portal

$r = req('POST', '/api/organizer/billing/portal', 'X-API-Key' => $key);
is($r->{status}, 200, 'portal: 200');
like($r->{json}{url} // '', qr{^https://billing\.stripe\.com/p/session/},
     '... a portal URL');
my ($pq) = grep { $_->{path} eq '/v1/billing_portal/sessions' } @{ $s->requests };
like($pq->{body} // '', qr/^customer=cus_/, '... for the customer');
like($pq->{body} // '', qr/return_url=https%3A%2F%2Fconf\.example\.com%2Fbilling/,
     '... with the return URL');
ok($pq->{idempotency_key}, '... with an Idempotency-Key');

$r = req('POST', '/api/organizer/billing/portal', 'X-API-Key' => $key);
is($r->{status}, 200, 'portal again: 200');
my @pqs = grep { $_->{path} eq '/v1/billing_portal/sessions' } @{ $s->requests };
my @pk = map { [ ($_->{idempotency_key} // '') =~ /-(\d+)-([0-9a-f]+)$/ ] } @pqs[0, 1];
is($pk[1][1], $pk[0][1], '... an Idempotency-Key derived from the same request');

$s->fault({ path => '^/v1/billing_portal/', body => 'portal_not_configured' });
my $n0 = @{ $s->requests };
$r = req('POST', '/api/organizer/billing/portal', 'X-API-Key' => $key);
is($r->{status}, 502, 'Stripe refuses the portal (400, not set up): 502');
like($r->{json}{error}{message}, qr/customer portal settings/,
     "... Stripe's message is passed on");
is($r->{json}{error}{code}, 'stripe_refused', '... stripe_refused');
is(@{ $s->requests } - $n0, 1, '... a 4xx is never retried');

# ---- an upgrade in the portal: pro -> enterprise

my $up = $s->control('POST', "subscriptions/$sub/update",
                     { price => 'price_enterprise_monthly' });
ok(tier_becomes('enterprise'), 'a plan change in the portal: enterprise');
my $newer = $up->{events}[0];

# ---- out of order: an older event after a newer one changes nothing

my ($old) = grep { $_->{type} eq 'customer.subscription.created' } @{ $s->events };
$r = $s->control('POST', "events/$old->{id}/redeliver");
is($r->{deliveries}[0]{status}, 200, 'an old subscription.created redelivered: 200');
is($r->{deliveries}[0]{answer}{outcome}, 'duplicate', '... a duplicate');

# the same old state under a new id (as Stripe's "resend" of an older
# event would look): the subscription is fetched, the tier stays
my $older = $J->decode($J->encode($old));
$older->{id} = 'evt_older_state_1';
$older->{type} = 'customer.subscription.updated';
$r = $s->control('POST', 'send', { event => $older });
is($r->{deliveries}[0]{status}, 200, 'an older subscription.updated (pro) after a newer one: 200');
is(me()->{billing}{tier}, 'enterprise', '... the tier stays enterprise');

# events held back, then delivered newest first
$s->config(delivery => 'hold');
my $a1 = $s->control('POST', "subscriptions/$sub/update", { price => 'price_pro_monthly' });
my $a2 = $s->control('POST', "subscriptions/$sub/update", { cancel_at_period_end => JSON::PP::true });
$s->config(delivery => 'in_order');
$s->control('POST', "events/$a2->{events}[0]/redeliver");
$s->control('POST', "events/$a1->{events}[0]/redeliver");
$me = me();
is($me->{billing}{tier}, 'pro', 'events delivered newest first: the latest state (pro)');
is($me->{billing}{cancel_at_period_end}, JSON::PP::true, '... cancelling at period end');

# a stale state is never applied: the apply function refuses it
like($t->psql("SELECT confhaven.billing_apply('evt_sql_stale', "
            . "'customer.subscription.updated', 1, '$org', NULL, "
            . "'{\"id\":\"$sub\",\"status\":\"canceled\"}'::json, NULL, 1000, 60)->>'outcome'"),
   qr/^stale: a newer state/ ,
   'billing_apply() refuses a state older than the one applied');
is(me()->{billing}{status}, 'active', '... the status is unchanged');

# duplicates: each event delivered twice
$s->config(delivery => 'duplicate_each');
my $dup = $s->control('POST', "subscriptions/$sub/update", { cancel_at_period_end => JSON::PP::false });
$s->config(delivery => 'in_order');
my @dd = grep { $_->{event} eq $dup->{events}[0] } @{ $s->deliveries };
is(scalar @dd, 2, 'an event delivered twice');
is($dd[0]{answer}{outcome} =~ /^applied/ ? 1 : 0, 1, '... applied once');
is($dd[1]{answer}{outcome}, 'duplicate', '... then acknowledged as a duplicate');
is($t->psql("SELECT count(*) FROM confhaven.stripe_events WHERE id = '$dup->{events}[0]'"), 1,
   '... recorded once');

# ---- a payment fails: grace, then free; then it recovers

my $fail = $s->control('POST', "subscriptions/$sub/fail_payment");
$me = me();
is($me->{billing}{status}, 'past_due', 'a failed payment: past_due');
ok($me->{billing}{grace_until}, '... with a grace period');
is($me->{billing}{tier}, 'pro', '... still pro during the grace period');
my ($ff) = grep { $_->{type} eq 'invoice.payment_failed' } @{ $s->deliveries };
is($ff->{status}, 200, '... invoice.payment_failed acknowledged');

my $free_after_grace = 0;
for (1 .. 100) {
    if (me()->{billing}{tier} eq 'free') { $free_after_grace = 1; last }
    sleep 0.1;
}
ok($free_after_grace, 'after the grace period (3 s here): free');
is(me()->{billing}{status}, 'past_due', '... still past_due');

$s->control('POST', "subscriptions/$sub/recover");
ok(tier_becomes('pro'), 'the payment recovers: pro again');
$me = me();
is($me->{billing}{status}, 'active', '... active');
is($me->{billing}{grace_until}, undef, '... the grace period is cleared');

# the legacy payload shapes (invoice.subscription, current_period_end on
# the subscription) work too
$s->config(api_version => '2024-06-20');
$s->control('POST', "subscriptions/$sub/fail_payment");
is(me()->{billing}{status}, 'past_due', 'a legacy-shaped invoice.payment_failed: past_due');
$s->control('POST', "subscriptions/$sub/recover");
is(me()->{billing}{status}, 'active', '... and invoice.paid: active');
ok(me()->{billing}{current_period_end}, '... the period end read from the old place');
$s->config(api_version => '2025-03-31.basil');

# ---- back to free: the subscription is deleted

$s->control('POST', "subscriptions/$sub/cancel");
ok(tier_becomes('free'), 'subscription deleted: free');
is(me()->{billing}{status}, 'canceled', '... canceled');

# and it can buy again
$r = req('POST', '/api/organizer/billing/checkout', 'X-API-Key' => $key,
         '{"tier":"enterprise"}');
is($r->{status}, 200, 'a new checkout after cancelling: 200');
($q) = grep { $_->{path} eq '/v1/checkout/sessions' } reverse @{ $s->requests };
like($q->{body}, qr/(^|&)customer=cus_/, '... for the known customer');
my $cs2 = $r->{json}{id};
my $d2 = $s->control('POST', "checkout/$cs2/complete", { outcome => 'trial' });
ok(tier_becomes('enterprise'), 'a trial: enterprise');
is(me()->{billing}{status}, 'trialing', '... trialing');

# the old, canceled subscription's late events do not touch the new one
$r = $s->control('POST', "subscriptions/$sub/update", { status => 'canceled' });
is(me()->{billing}{tier}, 'enterprise',
   'a late event of the old, canceled subscription changes nothing');

# ---- signatures

sub hook {
    my ($payload, $sig) = @_;
    return $t->http('POST', '/api/stripe/webhook', body => $payload,
                    content_type => 'application/json; charset=utf-8',
                    headers => [defined $sig ? ('Stripe-Signature' => $sig) : ()]);
}
my $evt = $J->encode({ id => 'evt_sig_1', object => 'event',
                       type => 'customer.subscription.deleted', created => time,
                       data => { object => { id => $d2->{subscription},
                                             object => 'subscription' } } });
my $now = int(time);
my $sig = $s->control('POST', 'sign', { payload => $evt, timestamp => $now })->{header};

$r = hook($evt, undef);
is($r->{status}, 400, 'a webhook without Stripe-Signature: 400');
is($r->{json}{error}{code}, 'missing_signature', '... missing_signature');

$r = hook($evt, 'garbage');
is($r->{status}, 400, 'a garbled Stripe-Signature: 400');
is($r->{json}{error}{code}, 'bad_signature_header', '... bad_signature_header');

$r = hook($evt, "t=$now");
is($r->{status}, 400, 'no v1: 400');

(my $bad = $sig) =~ s/v1=(.)/'v1=' . ($1 eq 'a' ? 'b' : 'a')/e;
$r = hook($evt, $bad);
is($r->{status}, 400, 'a wrong signature: 400');
is($r->{json}{error}{code}, 'bad_signature', '... bad_signature');
like($r->{json}{error}{message}, qr/nothing was changed/, '... nothing was changed');

$r = hook($evt . ' ', $sig);
is($r->{status}, 400, 'a body changed by one byte: 400');

my $stale = $s->control('POST', 'sign', { payload => $evt, timestamp => $now - 301 })->{header};
$r = hook($evt, $stale);
is($r->{status}, 400, 'a timestamp 301 s old: 400');
is($r->{json}{error}{code}, 'stale_signature', '... stale_signature');

my $other = $s->control('POST', 'sign', { payload => $evt, timestamp => $now,
                                         secret => $ConfHaven::FakeStripe::OLD_WHSEC })->{header};
my ($v1) = $sig =~ /v1=([0-9a-f]+)/;
my ($v1old) = $other =~ /v1=([0-9a-f]+)/;
$r = hook($evt, "t=$now,v1=$v1old,v0=deadbeef");
is($r->{status}, 400, 'signed with another secret only: 400');
is($t->psql("SELECT count(*) FROM confhaven.stripe_events WHERE id = 'evt_sig_1'"), 0,
   'no refused delivery was recorded');
is(me()->{billing}{tier}, 'enterprise', '... and the tier did not move');

$r = hook($evt, "t=$now,v1=$v1old,v1=$v1,v0=deadbeef");
is($r->{status}, 200, 'two v1 values (a secret being rolled), one matching: 200');

# the fake's modes do the same through real deliveries
for my $mode (qw(bad_signature stale_timestamp rotated_secrets with_v0)) {
    my $res = $s->control('POST', 'send', { type => 'customer.updated', delivery => $mode });
    my $st = $res->{deliveries}[0]{status};
    is($st, ($mode =~ /^(bad|stale)/ ? 400 : 200), "delivery mode $mode: $st");
}

# a v1 signature cross-checked: ours (Perl) against the stripe package's
use Digest::SHA qw(hmac_sha256_hex);
is("t=$now,v1=" . hmac_sha256_hex("$now.$evt", $ConfHaven::FakeStripe::WHSEC), $sig,
   "the stripe package's test header is HMAC-SHA-256 of t.body");

# ---- unknown event types, bad events, the body bound

$r = $s->control('POST', 'send', { type => 'payment_intent.created',
                                   object => { id => 'pi_1', object => 'payment_intent' } });
is($r->{deliveries}[0]{status}, 200, 'an unknown event type: 200 (acknowledged)');
like($r->{deliveries}[0]{answer}{outcome}, qr/^ignored/, '... ignored');
is($t->psql("SELECT outcome FROM confhaven.stripe_events WHERE id = '$r->{events}[0]'"),
   'ignored: an event type billing does not handle', '... and recorded as such');

my $notjson = 'not json at all';
$r = hook($notjson, "t=$now,v1=" . hmac_sha256_hex("$now.$notjson", $ConfHaven::FakeStripe::WHSEC));
is($r->{status}, 400, 'a signed body that is not JSON: 400');
is($r->{json}{error}{code}, 'bad_event', '... bad_event');

my $big = '{"id":"evt_big","type":"x","pad":"' . ('x' x (1024 * 1024)) . '"}';
$r = hook($big, "t=$now,v1=" . hmac_sha256_hex("$now.$big", $ConfHaven::FakeStripe::WHSEC));
is($r->{status}, 413, 'an event over 1 MiB: 413');

$r = req('GET', '/api/stripe/webhook');
is($r->{status}, 405, 'GET on the webhook: 405');

# an event for a subscription Stripe does not know: recorded, 200
$r = $s->control('POST', 'send', { event => {
    id => 'evt_unknown_sub', object => 'event', type => 'invoice.paid',
    data => { object => { id => 'in_x', object => 'invoice', subscription => 'sub_nope' } } } });
is($r->{deliveries}[0]{status}, 200, 'an invoice of an unknown subscription: 200');
is(me()->{billing}{tier}, 'enterprise', '... nothing changed');

# ---- when Stripe is down, a webhook gets 503 (Stripe retries it) and
# nothing is recorded

$s->fault({ method => 'GET', path => '^/v1/subscriptions/', status => 503,
            body => 'unavailable', times => 100 });
$r = $s->control('POST', "subscriptions/$d2->{subscription}/update",
                 { cancel_at_period_end => JSON::PP::true });
my @late = grep { $_->{event} eq $r->{events}[0] } @{ $s->deliveries };
ok(@late && !(grep { $_->{status} != 503 } @late),
   'Stripe unavailable while fetching the subscription: 503 (retried by Stripe)');
is($t->psql("SELECT count(*) FROM confhaven.stripe_events WHERE id = '$r->{events}[0]'"), 0,
   '... the event is not recorded: a later delivery applies it');
$s->control('POST', 'reset');

# ---- the webhook counters

my $m = $t->http('GET', '/metrics', headers => $admin)->{body} // '';
my %m = $m =~ /^(confhaven_stripe_webhooks_\w+_total) (\d+)$/mg;
cmp_ok($m{confhaven_stripe_webhooks_applied_total} // 0, '>=', 10,
       'metrics: webhooks applied');
cmp_ok($m{confhaven_stripe_webhooks_ignored_total} // 0, '>=', 5,
       'metrics: webhooks ignored (duplicates, stale, unknown types)');
cmp_ok($m{confhaven_stripe_webhooks_refused_total} // 0, '>=', 8,
       'metrics: webhooks refused (signatures)');
cmp_ok($m{confhaven_stripe_webhooks_failed_total} // 0, '>=', 1,
       'metrics: webhooks failed (Stripe down)');

$t->done_testing();
