package ConfHaven::Ics;

# ConfHaven::Ics — iCalendar checks of the tests (t/ics.t, t/agenda.t):
# every .ics the module serves is read by ical.js (npm, pinned in
# t/tools/package.json) through t/tools/ics-check.mjs.
#
#   use ConfHaven::Ics;
#   plan(skip_all => ConfHaven::Ics::why()) unless ConfHaven::Ics::available();
#   my $err = ConfHaven::Ics::install();       # undef, or npm ci's output
#   my $res = ConfHaven::Ics::check($t, $body1, $body2, ...);
#   # [ { problems => [...], events => [{uid, sequence, summary,
#   #     description, location, url, dtstamp, dtstart (UTC ISO),
#   #     dtstart_tzid, dtstart_local, dtend...}], timezones => [...],
#   #     max_octets, lines }, ... ] in the order of the bodies
#   my $doc = ConfHaven::Ics::sessionize(\@sessions, \%speakers);
#   # a Sessionize "All" export (one room "Hall B")
#
# install() runs `npm ci --prefix t/tools` when node_modules/ical.js is
# missing, under an flock (t/tools/.install.lock) so that test files
# running in parallel install once.

use strict;
use warnings;

use Cwd ();
use Fcntl qw(:flock);
use File::Basename ();
use File::Spec;
use JSON::PP;

use ConfHaven::Node;

my $JSON = JSON::PP->new->utf8->canonical;

sub _tools {
    my $here = File::Basename::dirname(Cwd::abs_path(__FILE__));
    return Cwd::abs_path("$here/../../tools");
}

sub _which {
    my ($cmd) = @_;
    for my $d (File::Spec->path()) {
        my $f = File::Spec->catfile($d, $cmd);
        return $f if -x $f && !-d $f;
    }
    return undef;
}

sub _installed { -e _tools() . '/node_modules/ical.js/package.json' }

sub available { return _installed() || (_which('npm') && _which('node')) ? 1 : 0 }

sub why { 'node or npm not found: cannot run ical.js (t/tools/package.json)' }

sub install {
    return undef if _installed();
    my $dir = _tools();
    open(my $lk, '>>', "$dir/.install.lock") or return "cannot open the install lock: $!";
    flock($lk, LOCK_EX) or return "cannot lock: $!";
    my $err;
    if (!_installed()) {
        my ($rc, $out) = ConfHaven::Node->new()->run(
            ['npm', 'ci', '--prefix', $dir, '--no-audit', '--no-fund', '--loglevel', 'error'],
            timeout => 600);
        $err = "npm ci --prefix $dir failed (exit $rc):\n$out" if $rc != 0 || !_installed();
    }
    flock($lk, LOCK_UN);
    close($lk);
    return $err;
}

# check(T, BODIES...): the ical.js reading of each body (bytes)
sub check {
    my ($t, @bodies) = @_;
    my @files;
    for my $i (0 .. $#bodies) {
        push @files, $t->write_file('ics-' . $$ . '-' . int(rand 1e9) . "-$i.ics",
                                    $bodies[$i] // '');
    }
    my $node = _which('node') // 'node';
    my ($rc, $out) = ConfHaven::Node->new()->run(
        [$node, _tools() . '/ics-check.mjs', @files], timeout => 60);
    unlink @files;
    my $res = $rc == 0 ? eval { $JSON->decode($out) } : undef;
    die "ics-check failed (exit $rc): $out\n" unless ref $res eq 'ARRAY';
    return $res;
}

# sessionize([{id, title, description, start, end}, ...], {id => name}):
# a Sessionize "All" export; speakers: [ids] per session, default none
sub sessionize {
    my ($sessions, $speakers) = @_;
    my @s = map {
        { id => "$_->{id}", title => $_->{title},
          description => $_->{description},
          startsAt => $_->{start}, endsAt => $_->{end},
          roomId => 1, speakers => $_->{speakers} // [],
          categoryItems => [], isServiceSession => JSON::PP::false }
    } @$sessions;
    my @sp = map { { id => $_, fullName => $speakers->{$_} } } sort keys %{$speakers // {}};
    return $JSON->encode({ sessions => \@s, speakers => \@sp,
                           rooms => [{ id => 1, name => 'Hall B' }],
                           categories => [] });
}

1;
