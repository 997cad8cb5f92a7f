#!/usr/bin/perl

# The Stripe client on the thread pool against a fake Stripe that fails on
# purpose: 5xx, 409 and 429 are retried a bounded number of times with the
# same Idempotency-Key (Retry-After honoured, Stripe-Should-Retry: false
# obeyed), a 4xx never is; slow answers past confhaven_stripe_timeout end
# in a clear 503; Stripe's error envelope reaches the client's message.
# The fake counts the calls.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;
use ConfHaven::FakeStripe;

plan(skip_all => 'node and npm are needed for the fake Stripe')
    unless ConfHaven::FakeStripe->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1);

my $s = ConfHaven::FakeStripe->start($t, 9);
my $stripe = $s->conf(timeout => '4s');

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
        }
    }
}
EOF
$t->run();

my $admin = ['Authorization' => 'Bearer ' . $t->admin_key];
my $r = $t->http('POST', '/api/admin/organizers?name=Retry%20Org', headers => $admin);
my $org = $r->{json}{id};
$r = $t->http('POST', "/api/admin/organizers/$org/keys", headers => $admin);
my $key = $r->{json}{key};
like($key, qr/^chk_/, 'an organizer and its key');

sub checkout {
    return $t->http('POST', '/api/organizer/billing/checkout', timeout => 60,
                    headers => ['X-API-Key' => $key],
                    content_type => 'application/json', body => '{"tier":"pro"}');
}

# the checkout requests to Stripe since the last reset
sub calls {
    return [grep { $_->{path} eq '/v1/checkout/sessions' } @{ $s->requests }];
}

sub fresh { $s->control('POST', 'reset') }

# ---- 500 twice, then a success: three calls, one key

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', body => 'api_error', times => 2 });
$r = checkout();
is($r->{status}, 200, '500 twice, then 200: the client gets the session');
my $c = calls();
is(scalar @$c, 3, '... after three calls');
my %keys = map { $_->{idempotency_key} => 1 } @$c;
is(scalar keys %keys, 1, '... all with the same Idempotency-Key');
like((keys %keys)[0], qr/^confhaven-checkout-/, '... a derived one');
ok(!(grep { ($_->{stripe_version} // '') ne '2025-03-31.basil' } @$c),
   '... each with the pinned Stripe-Version');
ok(!(grep { $_->{body} ne $c->[0]{body} } @$c), '... and the same parameters');

# ---- 503 and 409 are retried too

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', body => 'unavailable', times => 1 });
$s->fault({ path => '^/v1/checkout/sessions$', status => 409, times => 1,
            body => { error => { code => 'idempotency_key_in_use', type => 'invalid_request_error',
                                 message => 'There is currently another in-progress request using this idempotency key.' } } });
$r = checkout();
is($r->{status}, 200, '503, then 409 (the key in use), then 200');
is(scalar @{ calls() }, 3, '... three calls');

# ---- 429 with Retry-After: waited for

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', body => 'rate_limit', times => 1,
            headers => { 'Retry-After' => '1' } });
$r = checkout();
is($r->{status}, 200, '429 with Retry-After: 1, then 200');
$c = calls();
is(scalar @$c, 2, '... two calls');
cmp_ok($c->[1]{at} - $c->[0]{at}, '>=', 900, '... at least Retry-After apart');

# ---- 429 to the end: a bounded number of calls, then a clear 503

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', body => 'lock_timeout', times => 100,
            headers => { 'Retry-After' => '0' } });
$r = checkout();
is($r->{status}, 503, '429 every time: 503');
is($r->{json}{error}{code}, 'stripe_throttled', '... stripe_throttled');
ok(defined $r->{headers}{'retry-after'}, '... with Retry-After');
is(scalar @{ calls() }, 4, '... after 4 calls (the bound)');

# ---- 5xx to the end

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', body => 'unavailable', times => 100,
            headers => { 'Retry-After' => '0' } });
$r = checkout();
is($r->{status}, 503, '503 every time: 503');
is($r->{json}{error}{code}, 'stripe_unavailable', '... stripe_unavailable');
like($r->{json}{error}{message}, qr/after 4 attempt/, '... says how many attempts');
is(scalar @{ calls() }, 4, '... 4 calls');

# ---- Stripe-Should-Retry: false stops at once

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', status => 500, times => 100,
            headers => { 'Stripe-Should-Retry' => 'false' },
            body => { error => { type => 'api_error', message => 'do not retry this' } } });
$r = checkout();
is(scalar @{ calls() }, 1, '500 with Stripe-Should-Retry: false: one call');
is($r->{status}, 502, '... 502');

# ---- 4xx: never retried; Stripe's message, code and param passed on

for my $st (400, 401, 402, 403, 404) {
    fresh();
    $s->fault({ path => '^/v1/checkout/sessions$', status => $st, times => 100,
                body => { error => { type => 'invalid_request_error',
                                     code => 'resource_missing', param => 'line_items[0][price]',
                                     message => "No such price: 'price_pro_monthly'" } } });
    $r = checkout();
    is(scalar @{ calls() }, 1, "$st: one call, no retry");
    is($r->{status}, 502, "... 502 stripe_refused");
    like($r->{json}{error}{message},
         qr/$st invalid_request_error\/resource_missing: No such price: 'price_pro_monthly'; param line_items\[0\]\[price\]/,
         "... Stripe's envelope in the message");
}

# a real 400 of the fake's (a price it does not know) is not retried either
fresh();
$r = $t->http('POST', '/api/organizer/billing/checkout?tier=pro', timeout => 60,
              headers => ['X-API-Key' => $key]);
is($r->{status}, 200, 'after the faults, a plain checkout: 200');

# ---- slow answers

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', times => 1, delay_ms => 500, pass => JSON::PP::true });
$r = checkout();
is($r->{status}, 200, 'a slow answer within the timeout: 200');
is(scalar @{ calls() }, 1, '... one call');

fresh();
$s->fault({ path => '^/v1/checkout/sessions$', times => 100, delay_ms => 6000,
            pass => JSON::PP::true });
$r = checkout();
is($r->{status}, 503, 'Stripe stalls past confhaven_stripe_timeout (4s): 503');
is($r->{json}{error}{code}, 'stripe_unavailable', '... stripe_unavailable');

my $alive = $t->http('GET', '/health');
ok($alive->{status} == 200 || $alive->{status} == 503, 'the worker still answers');

# ---- a webhook's subscription fetch is retried the same way

fresh();
$r = checkout();
my $cs = $r->{json}{id};
$s->config(delivery => 'hold');
my $done = $s->control('POST', "checkout/$cs/complete", { outcome => 'paid' });
$s->config(delivery => 'in_order');
$s->fault({ method => 'GET', path => '^/v1/subscriptions/', body => 'api_error', times => 1 });
my ($sc) = grep { $_->{type} eq 'customer.subscription.created' } @{ $s->events };
$r = $s->control('POST', "events/$sc->{id}/redeliver");
is($r->{deliveries}[0]{status}, 200, 'a webhook whose subscription fetch got a 500 once: 200');
my @gets = grep { $_->{method} eq 'GET' } @{ $s->requests };
is(scalar @gets, 2, '... the GET was retried once');
is($t->http('GET', '/api/organizer', headers => ['X-API-Key' => $key])->{json}{billing}{tier},
   'pro', '... and the tier applied');

$t->done_testing();
