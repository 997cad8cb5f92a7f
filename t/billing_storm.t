#!/usr/bin/perl

# A webhook storm: a few hundred signed events, sent 16 at a time by the
# fake Stripe (subscription updates, each fetching its subscription on the
# thread pool, and event types billing ignores), while
# searches keep answering 2xx.  Every delivery is acknowledged 200, each
# event is recorded once, and the tier ends where the subscription is.
# No wall-clock figure is asserted.

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
my $stripe = $s->conf();

$t->write_conf(<<"EOF");
thread_pool stripe threads=8 max_queue=1024;

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

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'a conference to search');

my $admin = ['Authorization' => 'Bearer ' . $t->admin_key];
$r = $t->http('POST', '/api/admin/organizers?name=Storm%20Org', headers => $admin);
my $org = $r->{json}{id};
$r = $t->http('POST', "/api/admin/organizers/$org/keys", headers => $admin);
my $key = $r->{json}{key};

$r = $t->http('POST', '/api/organizer/billing/checkout', timeout => 60,
              headers => ['X-API-Key' => $key],
              content_type => 'application/json', body => '{"tier":"pro"}');
is($r->{status}, 200, 'a checkout');
my $done = $s->control('POST', "checkout/$r->{json}{id}/complete", { outcome => 'paid' });
my $sub = $done->{subscription};
is($t->http('GET', '/api/organizer', headers => ['X-API-Key' => $key])
       ->{json}{billing}{tier}, 'pro', 'the organizer is pro');

my ($created) = grep { $_->{type} eq 'customer.subscription.created' } @{ $s->events };
my $before = $t->psql('SELECT count(*) FROM confhaven.stripe_events');
my $d0 = scalar @{ $s->deliveries };

# 200 subscription updates (the current state is fetched for each) and
# 100 events of a type billing ignores, 16 deliveries at a time
my $upd = { %$created, type => 'customer.subscription.updated' };
delete $upd->{id};
delete $upd->{created};
$s->control('POST', 'send', { event => $upd, count => 200, background => JSON::PP::true,
                              concurrency => 8 });
$s->control('POST', 'send', { type => 'customer.updated', count => 100,
                              background => JSON::PP::true, concurrency => 8 });

my ($searches, $bad) = (0, 0);
my @codes;
for (1 .. 3000) {
    my $q = $t->http('GET', '/api/sessions?q=azure&conference=scottish-summit-2026&limit=5',
                     timeout => 30);
    $searches++;
    if ($q->{status} < 200 || $q->{status} > 299) {
        $bad++;
        push @codes, $q->{status};
    }
    my $st = $s->stats;
    last if $st->{deliveries} - $d0 >= 300 && $st->{sending} == 0;
}

my $st = $s->stats;
is($st->{deliveries} - $d0, 300, 'the 300 events were delivered once each');
is($st->{sending}, 0, '... and the fake is done');
ok($searches > 0, "searches ran during the storm ($searches)");
is($bad, 0, '... and every one answered 2xx') or diag("statuses: @codes");

my @del = @{ $s->deliveries }[$d0 .. $d0 + 299];
my %by;
$by{$_->{status}}++ for @del;
is_deeply(\%by, { 200 => 300 }, 'every delivery got 200');
is(scalar(grep { ($_->{answer}{outcome} // '') =~ /^(applied|stale)/ } @del), 200,
   'the 200 subscription updates were applied or found stale (none lost)');

is($t->psql('SELECT count(*) FROM confhaven.stripe_events') - $before, 300,
   'each event is recorded once');
is($t->http('GET', '/api/organizer', headers => ['X-API-Key' => $key])
       ->{json}{billing}{tier}, 'pro', 'the tier is where the subscription is');

# replayed: the same 300 ids again are duplicates, nothing changes
my @ids = map { $_->{event} } @del[0 .. 49];
my $dups = 0;
for my $id (@ids) {
    my $x = $s->control('POST', "events/$id/redeliver");
    $dups++ if ($x->{deliveries}[0]{answer}{outcome} // '') eq 'duplicate';
}
is($dups, 50, '50 of them redelivered: all duplicates');

$t->done_testing();
