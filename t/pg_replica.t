#!/usr/bin/perl

# confhaven_pg_server ... replica: a real streaming replica of a private
# cluster (pg_basebackup -R).  Reads (documents, searches) are answered by
# the replica, imports by the primary; an import is visible to the very
# next read although the replica is paused (the import's WAL position is
# checked); a replica that lags beyond confhaven_pg_replica_max_lag is
# skipped; a replica stopped under load costs no failed request and comes
# back when it is started again.
#
# Instance A: replica_max_lag 60s (only the WAL position keeps it away).
# Instance B: replica_max_lag 1s, reads only.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(24);

$t->private_pg();
$t->private_replica();

my $JSON = JSON::PP->new->utf8->canonical;
my $pport = $t->pg_port;
my $rport = $t->replica_port;
my $primary = "host=127.0.0.1 port=$pport dbname=confhaven user=postgres";
my $replica = "host=127.0.0.1 port=$rport dbname=confhaven user=postgres";

sub conf {
    my ($lag, $admin) = @_;
    my $admin_loc = $admin ? <<'EOF' : '';
        location /api/admin/ {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
            client_max_body_size 32m;
            client_body_buffer_size 32m;
        }
EOF
    return <<"EOF";
http {
    confhaven_pg_server "$primary";
    confhaven_pg_server "$replica" replica;
    confhaven_pg_replica_max_lag $lag;
    confhaven_events_buffer 0;

    server {
        listen 127.0.0.1:%%PORT_8080%%;
$admin_loc
        location / {
            confhaven_rest on;
        }
    }
}
EOF
}

$t->write_conf(conf('60s', 1));
$t->run();

my $b = ConfHaven::Test->new()->needs_module();
$b->write_conf(conf('1s', 0));
$b->run();

sub why { my ($r) = @_; diag('status ' . ($r->{status} // 'none') . ': '
                             . substr($r->{body} // '', 0, 400)) }

sub count_log {
    my ($i, $re) = @_;
    my @n = $i->error_log =~ /$re/g;
    return scalar @n;
}

# waits until the log has more than $n lines matching $re
sub wait_more {
    my ($i, $re, $n, $secs) = @_;
    my $deadline = time() + ($secs // 15);
    while (time() < $deadline) {
        return 1 if count_log($i, $re) > $n;
        sleep 0.05;
    }
    return 0;
}

my $SERVES = qr/replica "[^"]+" serves reads/;
my $SKIPPED = qr/replica "[^"]+" skipped/;
my $ON_REPLICA = qr/confhaven pg: read on replica/;

# ------------------------------------------------ an import, then reads

my $slug = 'global-azure-linz-2024';
my $file = $t->samples_dir . '/sessionize-all_global-azure-linz-2024.json';
my $doc = $JSON->decode($t->read_file($file));
my $ext = $doc->{sessions}[0]{id};
my %p = (name => 'Global Azure 2024 Linz', timezone => 'Europe/Vienna');

sub import_title {
    my ($title) = @_;
    $doc->{sessions}[0]{title} = $title;
    my $f = $t->write_file('import-' . int(rand 1e9) . '.json',
                           $JSON->encode($doc));
    my $r = $t->import_file($slug, $f, %p);
    unlink $f;
    return $r;
}

my $r = import_title('Replica first zebracorn');
is($r->{status}, 200, 'import through nginx (primary)') or why($r);

my $id = $t->psql("SELECT s.id FROM confhaven.sessions s JOIN "
                  . "confhaven.conferences c ON c.id = s.conference_id "
                  . "WHERE c.slug = '$slug' AND s.external_id = '$ext'");
ok($id, 'the session is in the primary');

ok($t->replica_sync(), 'the replica replayed the import');
ok(wait_more($t, $SERVES, 0) && wait_more($b, $SERVES, 0),
   'both instances use the replica');

sub title {
    my ($i) = @_;
    my $g = $i->get_json("/api/sessions/$id");
    return $g->{status} == 200 && ref $g->{json} eq 'HASH'
           ? $g->{json}{title} : "status $g->{status}";
}

sub found {
    my ($i, $q) = @_;
    my $s = $i->get_json("/api/sessions?q=$q&conference=$slug"
                         . '&include_past=true&limit=5');
    return "status $s->{status}" unless $s->{status} == 200;
    return scalar grep { ($_->{id} // 0) == $id }
        @{ref $s->{json} eq 'HASH' ? $s->{json}{sessions} // [] : []};
}

# the title read by a request that went to the replica; each worker
# learns what the replica replayed by its own checks, so a read may go to
# the primary for a moment: try again (10 s at most)
sub replica_read {
    my ($i, $what) = @_;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        my $k = count_log($i, $ON_REPLICA);
        my $v = $what ? found($i, $what) : title($i);
        return $v if count_log($i, $ON_REPLICA) > $k;
        sleep 0.1;
    }
    return 'no read went to the replica';
}

is(replica_read($t), 'Replica first zebracorn', 'document read on the replica');
is(replica_read($t, 'zebracorn'), 1, 'search on the replica finds it');

my $conns = $t->replica_psql("SELECT count(*) FROM pg_stat_activity "
                             . "WHERE application_name = 'confhaven'",
                             db => 'postgres');
ok($conns > 0, "the replica has nginx's connections ($conns)");
my $skipped_b = count_log($b, $SKIPPED);

# ------------------------------- a paused replica: reads stay on it ...

$t->replica_psql('SELECT pg_wal_replay_pause()', db => 'postgres');
$t->psql("UPDATE confhaven.sessions SET title = 'Changed behind nginx' "
         . "WHERE id = $id");

is(replica_read($t), 'Replica first zebracorn',
   'a change made behind nginx is not visible on the paused replica');

# ----------------------- ... but never hide what an import just wrote

$r = import_title('Replica second quagmoose');
is($r->{status}, 200, 'import while the replica is paused') or why($r);

# whichever worker answers: the import's WAL position is shared
my @seen = map { title($t) } 1 .. 4;
is_deeply(\@seen, [('Replica second quagmoose') x 4],
          'the next document reads see the import');
is(join(' ', map { found($t, 'quagmoose') } 1 .. 2), '1 1',
   'the next searches find it');
is($t->replica_psql("SELECT title FROM confhaven.sessions WHERE id = $id"),
   'Replica first zebracorn', 'although the replica has not replayed it');

# ------------------------------------------- a lagging replica is skipped

# B never wrote: only the lag keeps it away from the paused replica (each
# of its two workers finds out by itself)
ok(wait_more($b, $SKIPPED, $skipped_b + 1),
   'B: the paused replica lags beyond 1s');
$t->psql("UPDATE confhaven.sessions SET title = 'Changed behind nginx again' "
         . "WHERE id = $id");
is(title($b), 'Changed behind nginx again', 'B reads from the primary');

my $serves = count_log($b, $SERVES);
$t->replica_psql('SELECT pg_wal_replay_resume()', db => 'postgres');
ok($t->replica_sync(), 'replay resumed');
ok(wait_more($b, $SERVES, $serves), 'B: the replica serves reads again');
is(replica_read($b), 'Changed behind nginx again',
   'B: a document read on the replica');

# ---------------------------------------- the replica stops under load

# A's own import moved its WAL position on: the replica is used again
# once its check saw it replayed that far
sub reads_on_replica {
    my ($i) = @_;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        my $k = count_log($i, $ON_REPLICA);
        title($i);
        return 1 if count_log($i, $ON_REPLICA) > $k;
        sleep 0.1;
    }
    return 0;
}

ok(reads_on_replica($t), 'A reads from the replica again');

my $skipped = count_log($t, $SKIPPED);
my @codes;
$t->run_daemon(sub { sleep 0.3; $t->replica_stop('fast') });

my $deadline = time() + 3;
while (time() < $deadline) {
    my @h = map { $t->http_start('GET', $_ % 2 ? "/api/sessions/$id"
                           : "/api/sessions?q=azure&include_past=true&limit=3")
                } 1 .. 8;
    push @codes, map { $_->{status} // 0 } $t->http_finish(@h);
}

ok(@codes > 8 && !grep({ $_ != 200 } @codes),
   scalar(@codes) . ' reads while the replica stopped, all 200')
    or diag(join ' ', grep { $_ != 200 } @codes);
ok(wait_more($t, $SKIPPED, $skipped), 'A: the stopped replica is skipped');
is(title($t), 'Changed behind nginx again', 'reads go to the primary');

$serves = count_log($t, $SERVES);
$t->replica_start();
ok(wait_more($t, $SERVES, $serves, 20), 'A: the replica is back');
is(replica_read($t), 'Changed behind nginx again',
   'a read on the replica after its return');

unlike($t->error_log . $b->error_log, qr/running it on the primary/,
       'no read tried to write on the replica');
