#!/usr/bin/perl

# Retention of the webhook de-duplication table confhaven.stripe_events
# (sql/functions/90_billing.sql, billing_prune_events): every newly
# recorded event removes events received more than 30 days ago (Stripe
# retries a delivery for up to 3 days), a bounded batch at a time; recent
# events stay, and a duplicate delivery is still recognised as one.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Digest::SHA qw(hmac_sha256_hex);

use ConfHaven::Test;
use ConfHaven::FakeStripe;

plan(skip_all => 'node and npm are needed for the fake Stripe')
    unless ConfHaven::FakeStripe->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

my $s = ConfHaven::FakeStripe->start($t, 9);
my $stripe = $s->conf();

$t->write_conf(<<"EOF");
thread_pool stripe threads=2;

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

my $J = JSON::PP->new->canonical;

sub count {
    my ($where) = @_;
    return $t->psql("SELECT count(*) FROM confhaven.stripe_events WHERE $where");
}

# events as a long-running server would have them: received 40, 31, 29
# and 1 days ago
sub old_events {
    my ($prefix, $n, $days) = @_;
    $t->psql("INSERT INTO confhaven.stripe_events (id, type, created, received_at) "
             . "SELECT '$prefix' || g, 'customer.updated', now() - interval '$days days', "
             . "now() - interval '$days days' FROM generate_series(1, $n) g");
}

old_events('evt_old40_', 3, 40);
old_events('evt_old31_', 2, 31);
old_events('evt_recent29_', 2, 29);
old_events('evt_recent1_', 2, 1);
is(count('true'), 9, 'nine events recorded before');

# a signed delivery of an event type billing does not handle: recorded
sub hook {
    my ($event) = @_;
    my $payload = $J->encode($event);
    my $now = time;
    my $sig = "t=$now,v1="
              . hmac_sha256_hex("$now.$payload", $ConfHaven::FakeStripe::WHSEC);
    return $t->http('POST', '/api/stripe/webhook', body => $payload,
                    content_type => 'application/json',
                    headers => ['Stripe-Signature' => $sig]);
}

my $evt = { id => 'evt_retention_1', object => 'event',
            type => 'payment_intent.created', created => time,
            data => { object => { id => 'pi_1', object => 'payment_intent' } } };

my $r = hook($evt);
is($r->{status}, 200, 'a new event: 200');
like($r->{json}{outcome} // '', qr/^ignored/, '... recorded (ignored type)');
is(count("id LIKE 'evt_old%'"), 0,
   '... and the events received more than 30 days ago are gone');
is(count("id LIKE 'evt_recent%'"), 4, '... the ones of the last 30 days stay');
is(count("id = 'evt_retention_1'"), 1, '... the new one is recorded');

# de-duplication still works
$r = hook($evt);
is($r->{status}, 200, 'the same event again: 200');
is($r->{json}{outcome}, 'duplicate', '... a duplicate');
is(count("id = 'evt_retention_1'"), 1, '... recorded once');
is(count('true'), 5, '... and nothing else changed');

# a batch at a time: one call removes at most "batch" events
old_events('evt_many_', 7, 45);
is($t->psql('SELECT confhaven.billing_prune_events(30, 5)'), 5,
   'billing_prune_events(30, 5) removes 5 of 7 old events');
is(count("id LIKE 'evt_many_%'"), 2, '... 2 left');
is($t->psql('SELECT confhaven.billing_prune_events()'), 2,
   '... the next call the other 2');
is($t->psql('SELECT confhaven.billing_prune_events()'), 0,
   '... then nothing: the table has no event older than 30 days');
is($t->psql('SELECT confhaven.billing_prune_events(0, 0)'), 0,
   'a batch of 0 removes nothing');

# the other recording path (billing_apply: an event that names no
# subscription) prunes too
old_events('evt_apply_old_', 2, 60);
$r = $t->psql("SELECT confhaven.billing_apply('evt_apply_1', "
              . "'checkout.session.completed', extract(epoch FROM now())::bigint, "
              . "NULL, 'cus_none', NULL, NULL, 0, 604800)::text");
ok(defined $r, 'billing_apply of a new event answers');
is(count("id LIKE 'evt_apply_old_%'"), 0, '... and removes the old events');
is(count("id = 'evt_apply_1'"), 1, '... the event is recorded');
is(count("id LIKE 'evt_recent%'"), 4, '... recent events still stay');

$t->done_testing();
