package ConfHaven::Test;

# ConfHaven::Test — small nginx-tests style harness on core Perl only.
#
#   use Test::More;
#   use FindBin; use lib "$FindBin::Bin/lib";
#   use ConfHaven::Test;
#
#   my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(3);
#   $t->write_conf(<<'EOF');
#   confhaven_pg_server "%%DSN%%";
#   server {
#       listen 127.0.0.1:%%PORT_1%%;
#       location / { confhaven_rest on; }
#   }
#   EOF
#   $t->run();
#   my $r = $t->get_json('/health');
#   is($r->{status}, 200, 'health status');
#   ...                       # + the automatic "no alerts" test, counted by plan()
#
# Configuration text given to write_conf():
#   * If it contains a top-level `http {` block, it is the main (top-level)
#     context: you may add main-level directives (env, thread_pool, ...)
#     around the http block. Otherwise it is the INSIDE of `http { }`.
#   * The harness prepends: load_module <.so> (only after needs_module() or
#     load_module(1)), worker_processes <n> (default 2, see worker_processes();
#     left out when your text sets it), daemon off, pid, error_log <dir>/error.log
#     debug, events {} (left out when your text has an events block), and, as
#     the first lines inside http {}, *_temp_path under the test directory and
#     access_log <dir>/access.log (so don't repeat the *_temp_path directives
#     at http level).
#   * Placeholders: %%PORT_n%% (n any number; a free port, same n = same port),
#     %%DSN%% (conninfo of this file's database, see db()), %%TESTDIR%%,
#     %%MODULE%%, %%ADMIN_KEY_FILE%%, %%REDIS%% (host:port), %%REDIS_SOCKET%%
#     (after private_redis()), %%SAMPLES%%, %%SHARED%%. An unknown %%NAME%%
#     is an error.
#
# Environment (set by ci/test):
#   TEST_NGINX_BINARY            nginx binary (default /usr/sbin/nginx)
#   TEST_CONFHAVEN_MODULE        the .so (needs_module skips when missing)
#   TEST_CONFHAVEN_PG_HOST/PORT/USER, TEST_CONFHAVEN_PG_TEMPLATE (confhaven_tmpl),
#   TEST_CONFHAVEN_PGBIN         psql's directory (default /usr/lib/postgresql/15/bin)
#   TEST_CONFHAVEN_PG_DSN        maintenance conninfo (informational)
#   TEST_CONFHAVEN_REDIS         host:port (needs_redis skips when missing)
#   TEST_CONFHAVEN_SAMPLES       sql/samples directory
#   TEST_CONFHAVEN_SHARED        shared conference files (optional)
#   TEST_CONFHAVEN_LEAVE=1       keep the test directory (path printed as a diag)
#   TEST_CONFHAVEN_TIMEOUT       seconds for one HTTP exchange (default 10)
#   ASAN_OPTIONS, UBSAN_OPTIONS  appended to the harness's own (yours win)
#   TEST_CONFHAVEN_REPORTS       a directory: sanitizer reports are copied
#                                there (<test file>.<file name>, and
#                                <test file>.<n>.logs for those in the logs)
#
# The "no alerts" test (the last one of every file, added by plan() and
# done_testing()) fails on:
#   * an [alert], [crit] or [emerg] line, or "exited on signal", in the
#     error.log of ANY harness instance of the file (a second nginx too),
#     lines matching ignore_alerts() excepted;
#   * any sanitizer report: nginx always runs with ASAN_OPTIONS and
#     UBSAN_OPTIONS whose log_path is <testdir>/sanitizer/ (mode 1777: the
#     workers run as "nobody"), so a build with AddressSanitizer
#     (`make test-sanitize`) writes each report there, a file per process;
#     UndefinedBehaviorSanitizer (gcc) writes to stderr, i.e. stderr.log
#     and, once nginx has redirected it, error.log. Every file there and
#     every report in those logs fails the test and is shown as a diag.
#     ignore_alerts() does not apply to sanitizer reports. Without a
#     sanitized build the variables are simply unused.
#   A file that starts nginx but never gets that test (no $t->plan(N), no
#   $t->done_testing()) fails with "no alerts check missing".
#
# Concurrent requests (requests in flight at the same time):
#   my @h = map { $t->http_start('GET', "/api/sessions/$_") } 1 .. 4;
#   ...                                  # other requests meanwhile
#   my @r = $t->http_finish(@h);         # responses, in the order of @h
#   http_start(METHOD, PATH, %opts) takes http()'s options, sends the request
#   and returns a handle without reading; http_finish(HANDLES...) reads all of
#   them at once (select) and returns the parsed responses, each with
#   {elapsed} = seconds from http_start to the end of that response.
#
# Private PostgreSQL cluster (for a test that stops/starts the server):
#   $t->private_pg();     # initdb <testdir>/pg as user postgres (runuser when
#                         # root), start on a free port, create database
#                         # "confhaven", apply ci/migrate; skips the file when
#                         # initdb/pg_ctl are missing. From then on db(),
#                         # %%DSN%%, psql() use that cluster and database.
#   $t->pg_stop();        # pg_ctl stop -m fast (waits)
#   $t->pg_start();       # start it again on the same port (waits)
#   $t->pg_port();        # its port
#   The cluster is stopped (immediate) at the end; the directory goes with
#   the test directory.
#
# Streaming read replica of the private cluster (after private_pg()):
#   $t->private_replica();  # pg_basebackup -R -X stream from private_pg's
#                           # cluster into <testdir>/replica, started as a hot
#                           # standby on a free port (waits until it accepts
#                           # connections); skips without pg_basebackup
#   $t->replica_port();     # its port
#   $t->replica_psql(SQL);  # psql() against the replica (same database)
#   $t->replica_sync();     # waits (30 s at most) until the replica has
#                           # replayed the primary's current WAL position;
#                           # false when it did not
#   $t->replica_stop($mode) / $t->replica_start();   # pg_ctl stop / start
#   Stopped (immediate) at the end, before the primary.
#
# Private Redis server (for a test that stops, restarts or slows Redis):
#   $t->private_redis(%opts);   # redis-server in <testdir>/redis on a free
#                               # port of 127.0.0.1 and on the unix socket
#                               # <testdir>/redis/redis.sock (mode 777), no
#                               # persistence, DEBUG allowed for local clients
#                               # (Redis 7); skips the file when redis-server
#                               # or redis-cli is missing. opts: password =>
#                               # 'pw' (requirepass). From then on redis() and
#                               # %%REDIS%% are its 127.0.0.1:port and
#                               # %%REDIS_SOCKET%% is its socket path.
#   $t->redis_stop();           # SHUTDOWN NOSAVE, waits until it has exited
#   $t->redis_start(%opts);     # start it again on the same port and socket
#                               # (waits until it answers PING); opts as for
#                               # private_redis (password => undef: none;
#                               # left out: as before)
#   $t->redis_cli(ARGS...);     # redis-cli -h -p (and the private password)
#                               # against redis(); returns stdout without the
#                               # final newline, stderr in $t->{redis_cli_error}.
#                               # Works for TEST_CONFHAVEN_REDIS too.
#   $t->redis_port(), $t->redis_socket(), $t->redis_pid()
#   A command that must run in the background (e.g. DEBUG SLEEP 2):
#     $t->run_daemon(sub { $t->redis_cli('DEBUG', 'SLEEP', 2) });
#   The server is stopped at the end, after nginx; its directory (redis.log)
#   goes with the test directory.

use strict;
use warnings;

use Test::More ();
use File::Temp ();
use File::Path ();
use File::Spec;
use File::Basename ();
use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Time::HiRes qw(sleep time);
use JSON::PP ();
use Cwd ();

our $VERSION = '0.1';

my @INSTANCES;
my %USED_PORTS;
my $JSON = JSON::PP->new->utf8->allow_nonref->canonical;

sub new {
    my ($class, %opts) = @_;

    my $dir = File::Temp::tempdir('confhaven-test-XXXXXXXX', TMPDIR => 1,
                                  CLEANUP => !$ENV{TEST_CONFHAVEN_LEAVE});
    # nginx workers run as "nobody" when we are root: let them reach the dir
    chmod 0755, $dir if $> == 0;

    my $self = bless {
        _dir      => $dir,
        _ports    => {},
        _workers  => $opts{worker_processes} // 2,
        _load     => 0,
        _daemons  => [],
        _ignore   => [],
        _nginx    => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        _module   => $ENV{TEST_CONFHAVEN_MODULE} || '',
        _pgbin    => $ENV{TEST_CONFHAVEN_PGBIN} || '/usr/lib/postgresql/15/bin',
        _timeout  => $ENV{TEST_CONFHAVEN_TIMEOUT} || 10,
        _owner_pid => $$,
    }, $class;

    Test::More::diag("test directory: $dir") if $ENV{TEST_CONFHAVEN_LEAVE};

    # make Ctrl-C / prove's TERM run END so nginx never outlives the test
    $SIG{INT}  = sub { exit 130 } unless ref $SIG{INT};
    $SIG{TERM} = sub { exit 143 } unless ref $SIG{TERM};
    $SIG{PIPE} = 'IGNORE';

    push @INSTANCES, $self;
    return $self;
}

# ------------------------------------------------------------ requirements

sub testdir { $_[0]{_dir} }
sub module_path { $_[0]{_module} }
sub has_module { my $m = $_[0]{_module}; return $m ne '' && -f $m }

sub _skip {
    my ($self, $why) = @_;
    Test::More::plan(skip_all => $why);
}

sub needs_module {
    my ($self) = @_;
    $self->_skip('no module: TEST_CONFHAVEN_MODULE not set or file missing'
                 . ($self->{_module} ? " ($self->{_module})" : ''))
        unless $self->has_module;
    $self->{_load} = 1;
    return $self;
}

# load_module(1): put load_module in the config without needs_module's skip
sub load_module { my ($self, $on) = @_; $self->{_load} = $on // 1; return $self }

sub has_pg {
    my ($self) = @_;
    return $ENV{TEST_CONFHAVEN_PG_HOST} && $ENV{TEST_CONFHAVEN_PG_PORT}
        && -x "$self->{_pgbin}/psql";
}

sub needs_pg {
    my ($self) = @_;
    $self->_skip('no PostgreSQL: TEST_CONFHAVEN_PG_HOST/PORT not set (run via make test)')
        unless $self->has_pg;
    return $self;
}

# redis(): host:port of the private Redis (private_redis()) or TEST_CONFHAVEN_REDIS
sub redis {
    my ($self) = @_;
    return "127.0.0.1:$self->{_redis}{port}" if ref $self && $self->{_redis};
    return $ENV{TEST_CONFHAVEN_REDIS};
}

sub needs_redis {
    my ($self) = @_;
    $self->_skip('no Redis: TEST_CONFHAVEN_REDIS not set (run via make test)')
        unless $ENV{TEST_CONFHAVEN_REDIS};
    return $self;
}

sub samples_dir {
    return $ENV{TEST_CONFHAVEN_SAMPLES}
        || File::Spec->catdir(_repo_root(), 'sql', 'samples');
}

sub shared_dir { $ENV{TEST_CONFHAVEN_SHARED} }

sub needs_shared {
    my ($self) = @_;
    $self->_skip('no shared conference data: TEST_CONFHAVEN_SHARED not set')
        unless $ENV{TEST_CONFHAVEN_SHARED} && -d $ENV{TEST_CONFHAVEN_SHARED};
    return $self;
}

sub _repo_root {
    my $here = File::Basename::dirname(Cwd::abs_path(__FILE__));   # t/lib/ConfHaven
    return Cwd::abs_path("$here/../../..");
}

# plan(N): N of your tests; the harness adds 1 for "no alerts"
sub plan {
    my ($self, $n) = @_;
    Test::More::plan(tests => $n + 1);
    $self->{_plan} = 1;
    return $self;
}

# done_testing(): for files without a fixed plan; adds "no alerts" first
sub done_testing {
    my ($self) = @_;
    $self->{_plan} = 1;
    $self->_finish;
    Test::More::done_testing();
}

# ignore_alerts(qr/.../): error.log lines matching are not counted as alerts
sub ignore_alerts { my ($self, @re) = @_; push @{$self->{_ignore}}, @re; return $self }

sub worker_processes { my ($self, $n) = @_; $self->{_workers} = $n; return $self }

# ------------------------------------------------------------------ ports

sub _free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp')
            or die "cannot bind a free port: $!\n";
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p}++;
        return $p;
    }
    die "no free port found\n";
}

# port(n): the real port behind %%PORT_n%% (allocated on first use)
sub port {
    my ($self, $n) = @_;
    $n //= (sort { $a <=> $b } keys %{$self->{_ports}})[0] // 1;
    return $self->{_ports}{$n} //= _free_port();
}

# ----------------------------------------------------------------- config

sub write_conf {
    my ($self, $text, %opts) = @_;
    my $dir = $self->{_dir};

    $self->{_workers} = $opts{worker_processes} if defined $opts{worker_processes};

    my $body = $self->_subst($text);
    my $inject = join '',
        map { "    ${_}_temp_path $dir/${_}_temp;\n" }
            qw(client_body proxy fastcgi uwsgi scgi);
    $inject .= "    access_log $dir/access.log;\n";

    my $main;
    if ($body =~ /^\s*http\s*\{/m) {
        $main = $body;
        $main =~ s/^(\s*http\s*\{)/$1\n$inject/m;
    } else {
        $main = "http {\n$inject\n$body\n}\n";
    }

    my $pre = '';
    $pre .= "load_module $self->{_module};\n" if $self->{_load} && $self->{_module};
    $pre .= "worker_processes $self->{_workers};\n" unless $body =~ /^\s*worker_processes\s/m;
    $pre .= "daemon off;\n";
    $pre .= "pid $dir/nginx.pid;\n";
    $pre .= "error_log $dir/error.log debug;\n";
    $pre .= "events {\n    worker_connections 1024;\n}\n" unless $body =~ /^\s*events\s*\{/m;

    my $conf = "# written by ConfHaven::Test\n$pre\n$main";
    $self->write_file('nginx.conf', $conf);
    $self->{_conf} = $conf;
    return $self;
}

sub conf_text { $_[0]{_conf} }

sub _subst {
    my ($self, $text) = @_;
    $text =~ s{%%([A-Z_]+?)(?:_(\d+))?%%}{$self->_placeholder($1, $2)}ge;
    return $text;
}

sub _placeholder {
    my ($self, $name, $n) = @_;
    return $self->port($n) if $name eq 'PORT' && defined $n;
    die "unknown placeholder %%${name}_$n%%\n" if defined $n;
    return $self->db if $name eq 'DSN';
    return $self->{_dir} if $name eq 'TESTDIR';
    return $self->{_module} if $name eq 'MODULE';
    return $self->admin_key_file if $name eq 'ADMIN_KEY_FILE';
    return $self->redis // die "%%REDIS%% used but TEST_CONFHAVEN_REDIS is not set\n"
        if $name eq 'REDIS';
    return $self->redis_socket // die "%%REDIS_SOCKET%% used before private_redis()\n"
        if $name eq 'REDIS_SOCKET';
    return $self->samples_dir if $name eq 'SAMPLES';
    return $self->shared_dir // die "%%SHARED%% used but TEST_CONFHAVEN_SHARED is not set\n"
        if $name eq 'SHARED';
    die "unknown placeholder %%$name%%\n";
}

# write_file(name, content): a file in the test directory; returns its path
sub write_file {
    my ($self, $name, $content, $mode) = @_;
    my $path = File::Spec->file_name_is_absolute($name) ? $name : "$self->{_dir}/$name";
    open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
    print $fh $content;
    close $fh or die "cannot write $path: $!\n";
    chmod $mode, $path if defined $mode;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = File::Spec->file_name_is_absolute($name) ? $name : "$self->{_dir}/$name";
    open my $fh, '<:raw', $path or return undef;
    local $/;
    my $c = <$fh>;
    return $c;
}

# --------------------------------------------------------- running nginx

sub _nginx_args {
    my ($self) = @_;
    my $d = $self->{_dir};
    return ($self->{_nginx}, '-p', "$d/", '-c', "$d/nginx.conf", '-e', "$d/error.log");
}

# test_config(): `nginx -t`; returns ($exit_code, $output) (list) or exit code == 0
sub test_config {
    my ($self) = @_;
    my %env = $self->sanitizer_env;
    local @ENV{keys %env} = values %env;
    my ($rc, $out, $err) = $self->_cmd(undef, ($self->_nginx_args)[0 .. 4], '-e', "$self->{_dir}/nginx-t.log", '-t');
    return wantarray ? ($rc, $out . $err) : $rc == 0;
}

sub _listen_ports {
    my ($self) = @_;
    my @p;
    my $c = $self->{_conf} // '';
    while ($c =~ /\blisten\s+(?:[\d.]+:|\[[^\]]*\]:|localhost:)?(\d+)\b/mg) {
        push @p, $1;
    }
    return @p;
}

sub run {
    my ($self) = @_;
    die "nginx is already running\n" if $self->{_pid};
    die "write_conf() first\n" unless defined $self->{_conf};
    my $d = $self->{_dir};
    unlink "$d/nginx.pid";
    $self->{_log_off} = -s "$d/error.log" // 0;
    $self->{_err_off} = -s "$d/stderr.log" // 0;

    $self->{_ran} = 1;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        no warnings q(exec);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$d/stderr.log";
        open STDERR, '>>', "$d/stderr.log";
        my %env = $self->sanitizer_env;
        @ENV{keys %env} = values %env;
        exec $self->_nginx_args;
        POSIX::_exit(127);
    }
    $self->{_pid} = $pid;

    my @ports = $self->_listen_ports;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $rc = $? >> 8;
            delete $self->{_pid};
            die "nginx exited with status $rc at start:\n" . $self->_log_tail . "\n";
        }
        if (-s "$d/nginx.pid" && !grep { !_port_open($_) } @ports) {
            return $self;
        }
        sleep 0.05;
    }
    $self->stop;
    die "nginx did not start listening on @ports within 10s:\n" . $self->_log_tail . "\n";
}

sub _log_tail {
    my ($self) = @_;
    my $out = '';
    for my $f (['stderr.log', '_err_off'], ['error.log', '_log_off']) {
        my $c = $self->read_file($f->[0]) // next;
        $c = substr($c, $self->{$f->[1]} // 0);
        my @l = grep { /\[(?:emerg|alert|crit|error|warn)\]/ } split /\n/, $c;
        @l = @l[-20 .. -1] if @l > 20;
        $out .= "--- $f->[0]\n" . join("\n", @l) . "\n" if @l;
    }
    return $out;
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub pid { $_[0]{_pid} }

# wait_port(n, seconds): wait until %%PORT_n%% accepts connections (e.g. a run_daemon server)
sub wait_port {
    my ($self, $n, $secs) = @_;
    my $p = $self->port($n);
    my $deadline = time() + ($secs // 5);
    while (time() < $deadline) {
        return 1 if _port_open($p);
        sleep 0.05;
    }
    return 0;
}

# stop(): QUIT (graceful), then TERM, then KILL
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{_pid} or return $self;
    for my $step (['QUIT', 10], ['TERM', 5], ['KILL', 5]) {
        my ($sig, $secs) = @$step;
        kill $sig, $pid;
        my $deadline = time() + $secs;
        while (time() < $deadline) {
            return $self if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }
        Test::More::diag("nginx did not exit after SIG$sig") if $sig ne 'KILL';
    }
    return $self;
}

# reload(): HUP the master, wait until new workers started (or it failed)
sub reload {
    my ($self) = @_;
    my $pid = $self->{_pid} or die "nginx is not running\n";
    my $log = "$self->{_dir}/error.log";
    my $off = -s $log // 0;
    kill 'HUP', $pid;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        my $c = $self->read_file('error.log') // '';
        my $new = substr($c, $off);
        last if $new =~ /start worker process/ && $new =~ /reconfiguring/;
        last if $new =~ /\[emerg\]/;
        sleep 0.05;
    }
    for my $p ($self->_listen_ports) {
        my $until = time() + 5;
        sleep 0.05 until _port_open($p) || time() > $until;
    }
    sleep 0.2;    # let old workers begin their graceful exit
    return $self;
}

# ------------------------------------------------------------------ HTTP

# http(METHOD, PATH, %opts) → { status, headers{lc}, header_list, body, json, raw }
#   body => bytes, headers => { name => value } or [ name => value, ... ],
#   content_type => ..., host => 'localhost', port => n (%%PORT_n%%) or
#   port_number => real port, timeout => s, http_version => '1.1'|'1.0',
#   no_content_length => 1, keepalive => 1 (no "Connection: close")
sub http {
    my ($self, $method, $path, %o) = @_;
    my $req = $self->_request_bytes($method, $path, %o);
    return $self->raw($req, %o, _method => $method);
}

sub _request_bytes {
    my ($self, $method, $path, %o) = @_;
    my @h = ref $o{headers} eq 'HASH' ? %{$o{headers}} : @{$o{headers} // []};
    my %have = map { lc($_) => 1 } @h[grep { $_ % 2 == 0 } 0 .. $#h];
    my $ver = $o{http_version} // '1.1';

    my $req = "$method $path HTTP/$ver\r\n";
    $req .= "Host: " . ($o{host} // 'localhost') . "\r\n" unless $have{host};
    $req .= "Connection: close\r\n" unless $have{connection} || $o{keepalive};
    $req .= "Content-Type: $o{content_type}\r\n" if defined $o{content_type} && !$have{'content-type'};
    if (defined $o{body} && !$have{'content-length'} && !$have{'transfer-encoding'}
        && !$o{no_content_length})
    {
        $req .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    $req .= "\r\n";
    $req .= $o{body} if defined $o{body};
    return $req;
}

# http_start(METHOD, PATH, %opts): connect and send the request, do not read;
# returns a handle for http_finish()
sub http_start {
    my ($self, $method, $path, %o) = @_;
    my $port = $o{port_number} // $self->port($o{port});
    my $req = $self->_request_bytes($method, $path, %o);
    my $start = time();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $self->{_timeout})
        or die "cannot connect to 127.0.0.1:$port: $!\n";
    binmode $s;
    while (length $req) {
        my $n = syswrite($s, $req);
        last unless defined $n;
        substr($req, 0, $n, '');
    }
    return { sock => $s, buf => '', start => $start, method => $method,
             timeout => $o{timeout} // $self->{_timeout} };
}

# http_finish(HANDLES...): read every response concurrently; returns them
# (in order) with {elapsed}; in scalar context the first one
sub http_finish {
    my ($self, @h) = @_;
    my %open = map { $_ => $h[$_] } 0 .. $#h;
    my $sel = IO::Select->new(map { $_->{sock} } @h);
    my %by_sock = map { $h[$_]{sock} => $_ } 0 .. $#h;
    my $deadline = 0;
    for (@h) { my $d = $_->{start} + $_->{timeout}; $deadline = $d if $d > $deadline }
    while (%open) {
        my $left = $deadline - time();
        last if $left <= 0;
        for my $s ($sel->can_read($left)) {
            my $i = $by_sock{$s};
            my $n = sysread($s, $h[$i]{buf}, 65536, length $h[$i]{buf});
            next if $n;
            $h[$i]{end} = time();
            $sel->remove($s);
            close $s;
            delete $open{$i};
        }
    }
    my @r;
    for my $i (0 .. $#h) {
        my $r = _parse_response($h[$i]{buf}, $h[$i]{method});
        if ($open{$i}) { $r->{timeout} = 1; close $h[$i]{sock}; $h[$i]{end} = time() }
        $r->{elapsed} = $h[$i]{end} - $h[$i]{start};
        push @r, $r;
    }
    return wantarray ? @r : $r[0];
}

# raw(BYTES, %opts): send BYTES as is (or an array ref of chunks sent with
# `delay` seconds between them, default 0.1), read until the server closes
# (or timeout); returns the parsed response as http() does, plus {raw} and
# {timeout} => 1 when the read timed out.
sub raw {
    my ($self, $bytes, %o) = @_;
    my $port = $o{port_number} // $self->port($o{port});
    my $timeout = $o{timeout} // $self->{_timeout};
    my ($buf, $timed_out) = ('', 0);

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or die "cannot connect to 127.0.0.1:$port: $!\n";
    binmode $s;

    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm($timeout + 5);
        my @chunks = ref $bytes eq 'ARRAY' ? @$bytes : ($bytes);
        for my $i (0 .. $#chunks) {
            sleep($o{delay} // 0.1) if $i > 0;
            my $data = $chunks[$i];
            while (length $data) {
                my $n = syswrite($s, $data);
                last unless defined $n;    # server closed early: read what it said
                substr($data, 0, $n, '');
            }
        }
        my $sel = IO::Select->new($s);
        my $deadline = time() + $timeout;
        while (1) {
            my $left = $deadline - time();
            if ($left <= 0 || !$sel->can_read($left)) { $timed_out = 1; last }
            my $n = sysread($s, $buf, 65536, length $buf);
            last unless $n;
        }
        alarm(0);
        1;
    } or do {
        alarm(0);
        die $@ unless $@ eq "timeout\n";
        $timed_out = 1;
    };
    close $s;

    my $r = _parse_response($buf, $o{_method});
    $r->{timeout} = 1 if $timed_out;
    return $r;
}

sub _parse_response {
    my ($raw, $method) = @_;
    my $r = { raw => $raw, status => undef, headers => {}, header_list => [], body => undef };
    my $i = index($raw, "\r\n\r\n");
    return $r if $i < 0 && $raw !~ /^HTTP\//;
    my ($head, $body) = $i < 0 ? ($raw, '') : (substr($raw, 0, $i), substr($raw, $i + 4));
    my @lines = split /\r\n/, $head;
    my $sl = shift @lines // '';
    ($r->{status_line} = $sl) =~ s/\s+$//;
    $r->{status} = $1 + 0 if $sl =~ m{^HTTP/\d\.\d\s+(\d{3})};
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @{$r->{header_list}}, [$n, $v];
        my $k = lc $n;
        $r->{headers}{$k} = exists $r->{headers}{$k} ? "$r->{headers}{$k}, $v" : $v;
    }
    if (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $r->{body} = $body;
    if (length $body && ($r->{headers}{'content-type'} // '') =~ /json/i) {
        $r->{json} = eval { $JSON->decode($body) };
        $r->{json_error} = $@ if $@;
    }
    return $r;
}

# get_json(PATH, %opts): GET with Accept: application/json; returns the response
# (decoded body in {json})
sub get_json {
    my ($self, $path, %o) = @_;
    my @h = ref $o{headers} eq 'HASH' ? %{$o{headers}} : @{$o{headers} // []};
    return $self->http('GET', $path, %o, headers => ['Accept' => 'application/json', @h]);
}

# post_json(PATH, DATA, %opts): DATA (a ref) is encoded as JSON; a plain string is sent as is
sub post_json {
    my ($self, $path, $data, %o) = @_;
    my $body = ref $data ? $JSON->encode($data) : $data;
    return $self->http('POST', $path, %o, body => $body,
                       content_type => $o{content_type} // 'application/json');
}

sub json { $JSON }

# ------------------------------------------------------------------ admin

# admin_key_file(): <testdir>/admin.key (40 hex chars, mode 0600, created once)
sub admin_key_file {
    my ($self) = @_;
    return $self->{_keyfile} if $self->{_keyfile};
    my $key = join '', map { sprintf '%02x', int rand 256 } 1 .. 20;
    if (open my $r, '<:raw', '/dev/urandom') {
        read $r, my $b, 20;
        $key = unpack 'H*', $b if length($b // '') == 20;
    }
    $self->{_key} = $key;
    $self->{_keyfile} = $self->write_file('admin.key', "$key\n", 0600);
    return $self->{_keyfile};
}

sub admin_key { my ($self) = @_; $self->admin_key_file; return $self->{_key} }

sub _uri_escape {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# import_file(SLUG, FILE, name => .., timezone => .., location => .., website => ..,
#             key => override, headers => [...], content_type => .., port => n)
# FILE: a path, or a name found in samples_dir() or shared_dir().
sub import_file {
    my ($self, $slug, $file, %p) = @_;
    my $path = $file;
    if (!-f $path) {
        for my $d (grep { defined } $self->samples_dir, $self->shared_dir) {
            if (-f "$d/$file") { $path = "$d/$file"; last }
        }
    }
    my $body = $self->read_file(File::Spec->rel2abs($path))
        // die "import_file: cannot read $file\n";
    my %o;
    $o{$_} = delete $p{$_} for grep { exists $p{$_} }
        qw(key headers content_type port port_number timeout);
    my $key = exists $o{key} ? $o{key} : $self->admin_key;
    my $ctype = $o{content_type}
        // ($path =~ /\.xml$/i ? 'application/xml' : 'application/json');
    my $qs = join '&', map { "$_=" . _uri_escape($p{$_}) }
        grep { defined $p{$_} } sort keys %p;
    my @h = ref $o{headers} eq 'HASH' ? %{$o{headers}} : @{$o{headers} // []};
    unshift @h, 'Authorization' => "Bearer $key" if defined $key;
    return $self->http('POST', '/api/admin/conferences/' . _uri_escape($slug) . '/import'
                           . ($qs ne '' ? "?$qs" : ''),
                       body => $body, content_type => $ctype, headers => \@h,
                       map { $_ => $o{$_} } grep { exists $o{$_} } qw(port port_number timeout));
}

# ------------------------------------------------------------- PostgreSQL

sub _pg_base {
    my ($self) = @_;
    if (ref $self && $self->{_pg}) {
        return (host => '127.0.0.1', port => $self->{_pg}{port}, user => 'postgres');
    }
    return (host => $ENV{TEST_CONFHAVEN_PG_HOST} // '127.0.0.1',
            port => $ENV{TEST_CONFHAVEN_PG_PORT} // 5432,
            user => $ENV{TEST_CONFHAVEN_PG_USER} // 'postgres');
}

sub _conninfo {
    my ($db, $self) = @_;
    my %b = _pg_base($self);
    return "host=$b{host} port=$b{port} dbname=$db user=$b{user}";
}

# db(): a fresh database for this test file, created from the template
# (TEST_CONFHAVEN_PG_TEMPLATE, default confhaven_tmpl), dropped at the end.
# Returns a libpq conninfo "host=... port=... dbname=... user=...".
sub db {
    my ($self) = @_;
    return _conninfo($self->{_db}, $self) if $self->{_db};
    die "db(): no PostgreSQL (call needs_pg() first)\n" unless $self->has_pg;
    my $tmpl = $ENV{TEST_CONFHAVEN_PG_TEMPLATE} || 'confhaven_tmpl';
    my $name = sprintf 'ch_t_%d_%04x', $$, int rand 65536;
    my $err;
    for my $try (1 .. 20) {
        my ($rc, $out, $e) = $self->_psql_raw('postgres',
            qq{CREATE DATABASE "$name" TEMPLATE "$tmpl"});
        if ($rc == 0) { $self->{_db} = $name; return _conninfo($name, $self) }
        $err = $e;
        last unless $e =~ /being accessed by other users/;
        sleep 0.2 * $try;
    }
    die "db(): CREATE DATABASE $name TEMPLATE $tmpl failed: $err\n";
}

sub dbname { my ($self) = @_; $self->db; return $self->{_db} }

# psql(SQL, db => name, allow_error => 1): run SQL (psql -X -A -t, ON_ERROR_STOP)
# in this file's database; returns the output without the final newline.
# Dies on error unless allow_error, which returns undef and leaves the
# message in $t->{psql_error}.
sub psql {
    my ($self, $sql, %o) = @_;
    my $db = $o{db} // $self->dbname;
    my ($rc, $out, $err) = $self->_psql_raw($db, $sql);
    if ($rc != 0) {
        $self->{psql_error} = $err;
        return undef if $o{allow_error};
        die "psql failed: $err\n";
    }
    delete $self->{psql_error};
    $out =~ s/\n\z//;
    return $out;
}

sub _psql_raw {
    my ($self, $db, $sql, $port) = @_;
    my %b = _pg_base($self);
    $b{port} = $port if defined $port;
    my $f = "$self->{_dir}/.psql.$$.sql";
    $self->write_file($f, $sql);
    my @r = $self->_cmd($f, "$self->{_pgbin}/psql", '-X', '-q', '-A', '-t',
                        '-v', 'ON_ERROR_STOP=1', '-h', $b{host}, '-p', $b{port},
                        '-U', $b{user}, '-d', $db, '-f', '-');
    unlink $f;
    return @r;
}

# _cmd(STDIN_FILE, CMD...): run a command, returns (exit code, stdout, stderr)
sub _cmd {
    my ($self, $in, @cmd) = @_;
    my $base = "$self->{_dir}/.cmd.$$." . int(rand 1e9);
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        no warnings q(exec);
        open STDIN, '<', $in // '/dev/null';
        open STDOUT, '>', "$base.out";
        open STDERR, '>', "$base.err";
        exec @cmd;
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    my $out = $self->read_file("$base.out") // '';
    my $err = $self->read_file("$base.err") // '';
    unlink "$base.out", "$base.err";
    return ($rc, $out, $err);
}

# ------------------------------------------- private PostgreSQL cluster

sub _as_postgres { return $> == 0 ? ('runuser', '-u', 'postgres', '--') : () }

sub private_pg {
    my ($self) = @_;
    return $self if $self->{_pg};
    my $bin = $self->{_pgbin};
    $self->_skip("no $bin/initdb or pg_ctl: cannot start a private PostgreSQL")
        unless -x "$bin/initdb" && -x "$bin/pg_ctl" && -x "$bin/psql";
    my $dir = "$self->{_dir}/pg";
    mkdir $dir or die "mkdir $dir: $!\n";
    mkdir "$dir/sock" or die "mkdir $dir/sock: $!\n";
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or $self->_skip('no "postgres" system user for initdb');
        chown $uid, $gid, $dir, "$dir/sock";
        chmod 0700, $dir;
    }
    my ($rc, $out, $err) = $self->_cmd(undef, _as_postgres(), "$bin/initdb",
        '-D', "$dir/data", '-U', 'postgres', '--auth=trust', '-E', 'UTF8',
        '--locale=C.UTF-8');
    die "private_pg: initdb failed: $out$err\n" if $rc;
    open my $fh, '>>', "$dir/data/postgresql.conf" or die "postgresql.conf: $!\n";
    print $fh "# ConfHaven::Test private_pg\nlisten_addresses = '127.0.0.1'\n",
        "unix_socket_directories = '$dir/sock'\nmax_connections = 100\n",
        "timezone = 'UTC'\nlog_timezone = 'UTC'\nfsync = off\n",
        "synchronous_commit = off\nfull_page_writes = off\n";
    close $fh;
    $self->{_pg} = { dir => $dir, port => _free_port() };
    $self->pg_start;
    ($rc, $out, $err) = $self->_psql_raw('postgres', 'CREATE DATABASE confhaven');
    die "private_pg: CREATE DATABASE: $err\n" if $rc;
    $self->{_db} = 'confhaven';
    $self->{_db_private} = 1;
    my $migrate = File::Spec->catfile(_repo_root(), 'ci', 'migrate');
    {
        local $ENV{PATH} = "$bin:$ENV{PATH}";
        ($rc, $out, $err) = $self->_cmd(undef, $migrate, _conninfo('confhaven', $self));
    }
    die "private_pg: ci/migrate failed: $out$err\n" if $rc;
    return $self;
}

sub pg_port { $_[0]{_pg} ? $_[0]{_pg}{port} : $ENV{TEST_CONFHAVEN_PG_PORT} }

sub _pg_ctl {
    my ($self, @args) = @_;
    my $pg = $self->{_pg} or die "no private cluster (call private_pg() first)\n";
    return $self->_cmd(undef, _as_postgres(), "$self->{_pgbin}/pg_ctl",
                       '-D', "$pg->{dir}/data", @args);
}

sub pg_start {
    my ($self) = @_;
    my $pg = $self->{_pg};
    my ($rc, $out, $err) = $self->_pg_ctl('-l', "$pg->{dir}/postgresql.log",
        '-w', '-t', '60', '-o', "-p $pg->{port} -k $pg->{dir}/sock", 'start');
    die "pg_start: $out$err\n" if $rc;
    return $self;
}

sub pg_stop {
    my ($self, $mode) = @_;
    my ($rc, $out, $err) = $self->_pg_ctl('-m', $mode // 'fast', '-w', '-t', '60', 'stop');
    die "pg_stop: $out$err\n" if $rc;
    return $self;
}

# ------------------------------------------------ streaming read replica

sub private_replica {
    my ($self) = @_;
    return $self if $self->{_replica};
    my $pg = $self->{_pg} or die "private_replica(): call private_pg() first\n";
    my $bin = $self->{_pgbin};
    $self->_skip("no $bin/pg_basebackup: cannot start a replica")
        unless -x "$bin/pg_basebackup";
    my $dir = "$self->{_dir}/replica";
    mkdir $dir or die "mkdir $dir: $!\n";
    mkdir "$dir/sock" or die "mkdir $dir/sock: $!\n";
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres');
        chown $uid, $gid, $dir, "$dir/sock";
        chmod 0700, $dir;
    }
    my ($rc, $out, $err) = $self->_cmd(undef, _as_postgres(),
        "$bin/pg_basebackup", '-D', "$dir/data", '-R', '-X', 'stream',
        '-c', 'fast', '-h', '127.0.0.1', '-p', $pg->{port}, '-U', 'postgres');
    die "private_replica: pg_basebackup failed: $out$err\n" if $rc;
    open my $fh, '>>', "$dir/data/postgresql.conf"
        or die "postgresql.conf: $!\n";
    print $fh "# ConfHaven::Test private_replica\n",
        "unix_socket_directories = '$dir/sock'\nhot_standby = on\n";
    close $fh;
    $self->{_replica} = { dir => $dir, port => _free_port() };
    $self->replica_start;
    return $self;
}

sub replica_port { $_[0]{_replica} ? $_[0]{_replica}{port} : undef }

sub _replica_ctl {
    my ($self, @args) = @_;
    my $r = $self->{_replica} or die "no replica (call private_replica() first)\n";
    return $self->_cmd(undef, _as_postgres(), "$self->{_pgbin}/pg_ctl",
                       '-D', "$r->{dir}/data", @args);
}

sub replica_start {
    my ($self) = @_;
    my $r = $self->{_replica};
    my ($rc, $out, $err) = $self->_replica_ctl('-l', "$r->{dir}/postgresql.log",
        '-w', '-t', '60', '-o', "-p $r->{port} -k $r->{dir}/sock", 'start');
    die "replica_start: $out$err\n" if $rc;
    return $self;
}

sub replica_stop {
    my ($self, $mode) = @_;
    my ($rc, $out, $err) = $self->_replica_ctl('-m', $mode // 'fast', '-w',
                                               '-t', '60', 'stop');
    die "replica_stop: $out$err\n" if $rc;
    return $self;
}

sub replica_psql {
    my ($self, $sql, %o) = @_;
    my $db = $o{db} // $self->dbname;
    my ($rc, $out, $err) = $self->_psql_raw($db, $sql, $self->replica_port);
    if ($rc != 0) {
        $self->{psql_error} = $err;
        return undef if $o{allow_error};
        die "replica psql failed: $err\n";
    }
    $out =~ s/\n\z//;
    return $out;
}

sub replica_sync {
    my ($self) = @_;
    my $lsn = $self->psql('SELECT pg_current_wal_lsn()', db => 'postgres');
    my $deadline = time() + 30;
    while (time() < $deadline) {
        my $ok = $self->replica_psql("SELECT pg_last_wal_replay_lsn() >= '$lsn'",
                                     db => 'postgres', allow_error => 1);
        return 1 if defined $ok && $ok eq 't';
        sleep 0.05;
    }
    return 0;
}

# ------------------------------------------------- private Redis server

sub _which {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$prog" if $d ne '' && -x "$d/$prog" && !-d "$d/$prog";
    }
    return undef;
}

sub private_redis {
    my ($self, %o) = @_;
    return $self if $self->{_redis};
    my $server = _which('redis-server')
        or $self->_skip('no redis-server: cannot start a private Redis');
    my $cli = _which('redis-cli')
        or $self->_skip('no redis-cli: cannot start a private Redis');
    my $dir = "$self->{_dir}/redis";
    mkdir $dir or die "mkdir $dir: $!\n";
    chmod 0755, $dir;    # workers run as "nobody" when we are root: the socket
    my (undef, $ver) = $self->_cmd(undef, $server, '--version');
    my $major = $ver =~ /\bv=(\d+)\./ ? $1 : 0;
    $self->{_redis} = { dir => $dir, port => _free_port(), socket => "$dir/redis.sock",
                        server => $server, cli => $cli, major => $major,
                        password => undef };
    return $self->redis_start(%o);
}

sub redis_port { $_[0]{_redis} ? $_[0]{_redis}{port} : (split /:/, $_[0]->redis // '')[1] }
sub redis_socket { $_[0]{_redis} ? $_[0]{_redis}{socket} : undef }
sub redis_pid { $_[0]{_redis} ? $_[0]{_redis}{pid} : undef }

sub redis_start {
    my ($self, %o) = @_;
    my $rd = $self->{_redis} or die "no private Redis (call private_redis() first)\n";
    die "redis_start: already running\n" if $rd->{pid} && kill 0, $rd->{pid};
    $rd->{password} = $o{password} if exists $o{password};
    my $conf = "# ConfHaven::Test private_redis\n"
        . "bind 127.0.0.1\nport $rd->{port}\nprotected-mode yes\n"
        . "unixsocket $rd->{socket}\nunixsocketperm 777\n"
        . "daemonize yes\npidfile $rd->{dir}/redis.pid\n"
        . "logfile $rd->{dir}/redis.log\ndir $rd->{dir}\n"
        . "save \"\"\nappendonly no\ndatabases 16\n";
    $conf .= "enable-debug-command local\n" if $rd->{major} >= 7;
    $conf .= "requirepass \"$rd->{password}\"\n" if defined $rd->{password};
    $self->write_file("$rd->{dir}/redis.conf", $conf);
    unlink "$rd->{dir}/redis.pid";
    my ($rc, $out, $err) = $self->_cmd(undef, $rd->{server}, "$rd->{dir}/redis.conf");
    die "redis_start: redis-server failed: $out$err\n" if $rc;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        if (-s "$rd->{dir}/redis.pid" && _port_open($rd->{port})
            && $self->redis_cli('PING') eq 'PONG')
        {
            my $pid = $self->read_file("$rd->{dir}/redis.pid") // '';
            ($rd->{pid}) = $pid =~ /(\d+)/;
            return $self;
        }
        sleep 0.05;
    }
    my $log = $self->read_file("$rd->{dir}/redis.log") // '';
    die "redis_start: Redis did not answer on port $rd->{port} within 10s:\n$log\n";
}

sub redis_stop {
    my ($self) = @_;
    my $rd = $self->{_redis} or die "no private Redis (call private_redis() first)\n";
    my $pid = delete $rd->{pid} or return $self;
    $self->redis_cli('SHUTDOWN', 'NOSAVE');
    my $deadline = time() + 10;
    sleep 0.02 while kill(0, $pid) && time() < $deadline;
    if (kill 0, $pid) {
        Test::More::diag("private Redis did not exit after SHUTDOWN NOSAVE: killing it");
        kill 'KILL', $pid;
        sleep 0.1;
    }
    return $self;
}

sub redis_cli {
    my ($self, @args) = @_;
    my ($host, $port) = split /:/, ($self->redis // die "redis_cli: no Redis\n");
    my $rd = $self->{_redis};
    my @auth = $rd && defined $rd->{password}
        ? ('--no-auth-warning', '-a', $rd->{password}) : ();
    my $cli = $rd ? $rd->{cli} : (_which('redis-cli') // 'redis-cli');
    my ($rc, $out, $err) = $self->_cmd(undef, $cli, '-h', $host, '-p', $port,
                                       @auth, @args);
    $self->{redis_cli_error} = $rc ? "exit $rc: $err" : $err;
    $out =~ s/\n\z//;
    return $out;
}

# ------------------------------------------------------- helper daemons

# run_daemon(CODE, ARGS...): fork a helper (e.g. a fake HTTP server) that runs
# CODE->(ARGS); it is killed at the end. Returns its pid.
sub run_daemon {
    my ($self, $code, @args) = @_;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        eval { $code->(@args) };
        POSIX::_exit($@ ? 1 : 0);
    }
    push @{$self->{_daemons}}, $pid;
    return $pid;
}

# ------------------------------------------------------------- error.log

sub error_log { $_[0]->read_file('error.log') // '' }

# grep_log(qr/../): matching lines of error.log (count in scalar context)
sub grep_log {
    my ($self, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $self->error_log;
}

# wait_log(qr/../, seconds): wait until error.log has a matching line
sub wait_log {
    my ($self, $re, $secs) = @_;
    my $deadline = time() + ($secs // 5);
    while (time() < $deadline) {
        return 1 if $self->grep_log($re);
        sleep 0.05;
    }
    return 0;
}

# ------------------------------------------------------------ sanitizers

# sanitizer_dir(): <testdir>/sanitizer, where sanitizer reports go (created
# mode 1777 on first use: the workers run as "nobody" when we are root)
sub sanitizer_dir {
    my ($self) = @_;
    my $d = "$self->{_dir}/sanitizer";
    if (!-d $d) {
        mkdir $d or die "mkdir $d: $!\n";
        chmod 01777, $d;
    }
    return $d;
}

# sanitizer_env(): the environment nginx runs with (name => value):
# reports go to files in sanitizer_dir(), one per process (asan.<pid>,
# ubsan.<pid>). ASan stops a process at its first report; UBSan reports
# each site once and goes on, with the suppressions of ubsan.supp (next
# to this file) for nginx's own sources. No leak check: nginx leaves its
# cycle memory to exit() on purpose. No ODR check: every nginx dynamic
# module defines its own ngx_modules[] and ngx_module_names[], which nginx
# looks up with dlsym() (by design, not a bug). The caller's own settings
# come last and win.
sub sanitizer_env {
    my ($self) = @_;
    my $d = $self->sanitizer_dir;
    my %o = (
        ASAN_OPTIONS => "log_path=$d/asan:detect_leaks=0:detect_odr_violation=0",
        UBSAN_OPTIONS => "log_path=$d/ubsan:print_stacktrace=1:halt_on_error=0"
            . ':suppressions=' . File::Spec->catfile(_repo_root(), 't', 'lib',
                                                     'ConfHaven', 'ubsan.supp'),
    );
    for my $k (keys %o) {
        $o{$k} .= ":$ENV{$k}" if defined $ENV{$k} && $ENV{$k} ne '';
    }
    return %o;
}

# the first line of a sanitizer report written to stderr ("==PID==ERROR:
# AddressSanitizer: ...", "file.c:1:2: runtime error: ...", "SUMMARY: ..."),
# never an nginx log line (those start with the date and may quote
# anything a client sent)
my $SANITIZER_LINE = qr/^(?:==\d+==|SUMMARY:\s\w*Sanitizer
                         |\S+:\d+(?::\d+)?:\sruntime\serror:\s)/x;
my $NGINX_LOG_LINE = qr{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d };

# _log_reports(FILE): the sanitizer reports written into a log file (UBSan
# in gcc's combined runtime ignores log_path and writes to stderr, which
# nginx points at its error log): each from its first line to the next
# nginx log line or report (40 lines at most)
sub _log_reports {
    my ($self, $f) = @_;
    my (@r, $cur);
    for my $l (split /\n/, $self->read_file($f) // '') {
        if ($l =~ $SANITIZER_LINE) {
            push @r, $cur = [ "$f: $l" ];
        } elsif ($cur && $l !~ $NGINX_LOG_LINE && @$cur < 40) {
            push @$cur, $l;
        } else {
            undef $cur;
        }
    }
    return map { join "\n", @$_ } @r;
}

# sanitizer_reports(): one text per report: each file in sanitizer_dir()
# (named, then its content) and each report in error.log and stderr.log
sub sanitizer_reports {
    my ($self) = @_;
    my @r;
    my $d = "$self->{_dir}/sanitizer";
    if (opendir my $dh, $d) {
        for my $f (sort grep { !/^\./ } readdir $dh) {
            my $c = $self->read_file("$d/$f") // '';
            next if $c !~ /\S/;
            push @r, "sanitizer report $d/$f:\n$c";
        }
        closedir $dh;
    }
    push @r, $self->_log_reports($_) for 'error.log', 'stderr.log';
    return @r;
}

# _keep_reports(): copy the sanitizer reports to TEST_CONFHAVEN_REPORTS:
# the files as <test file>.<name>, those found in the logs together as
# <test file>.<n>.logs
sub _keep_reports {
    my ($self, $n) = @_;
    my $to = $ENV{TEST_CONFHAVEN_REPORTS} or return;
    my $name = File::Basename::basename($0);
    my $d = "$self->{_dir}/sanitizer";
    my @keep;
    if (opendir my $dh, $d) {
        for my $f (sort grep { !/^\./ } readdir $dh) {
            my $c = $self->read_file("$d/$f") // next;
            push @keep, [ "$name.$f", $c ] if $c =~ /\S/;
        }
        closedir $dh;
    }
    my @l = map { $self->_log_reports($_) } 'error.log', 'stderr.log';
    push @keep, [ "$name.$n.logs", join("\n\n", @l) . "\n" ] if @l;
    for my $k (@keep) {
        eval { $self->write_file("$to/$k->[0]", $k->[1]); 1 }
            or Test::More::diag("cannot keep $k->[0]: $@");
    }
}

sub alerts {
    my ($self) = @_;
    my @a = grep {
        my $l = $_;
        ($l =~ /\[(?:alert|crit|emerg)\]/ || $l =~ /worker process \d+ exited on signal/)
            && !grep { $l =~ $_ } @{$self->{_ignore}}
    } split /\n/, $self->error_log;
    return (@a, $self->sanitizer_reports);
}

# ------------------------------------------------------------------- end

# the harness instances of this test file (not those of a forked child)
sub _mine { return grep { $_->{_owner_pid} == $$ } @INSTANCES }

sub _finish {
    my ($self) = @_;
    return if $self->{_finished}++;
    # the "no alerts" test covers every nginx of the file: stop them all
    # first, so that their logs (and sanitizer reports) are complete
    $_->stop for $self->{_plan} ? _mine() : ($self);
    for my $pid (@{$self->{_daemons}}) {
        kill 'TERM', $pid;
        my $deadline = time() + 3;
        sleep 0.05 while waitpid($pid, WNOHANG) == 0 && time() < $deadline;
        if (kill 0, $pid) { kill 'KILL', $pid; waitpid($pid, 0) }
    }
    if ($self->{_redis} && $self->{_redis}{pid}) {
        my $pid = delete $self->{_redis}{pid};
        kill 'TERM', $pid;
        my $deadline = time() + 5;
        sleep 0.05 while kill(0, $pid) && time() < $deadline;
        kill 'KILL', $pid if kill 0, $pid;
    }
    if ($self->{_plan}) {
        my @a = map { $_->alerts } _mine();
        $_->{_checked} = 1 for _mine();
        my $n = 0;
        $_->_keep_reports(++$n) for _mine();
        Test::More::ok(!@a, 'no alerts')
            or Test::More::diag(join "\n", @a[0 .. ($#a < 9 ? $#a : 9)]);
    }
    if ($self->{_replica}) {
        $self->_replica_ctl('-m', 'immediate', '-w', '-t', '30', 'stop')
            if -f "$self->{_replica}{dir}/data/postmaster.pid";
    }
    if ($self->{_pg}) {
        delete $self->{_db};
        $self->_pg_ctl('-m', 'immediate', '-w', '-t', '30', 'stop')
            if -f "$self->{_pg}{dir}/data/postmaster.pid";
    }
    if ($self->{_db}) {
        my ($rc, undef, $err) = $self->_psql_raw('postgres',
            qq{DROP DATABASE IF EXISTS "$self->{_db}" WITH (FORCE)});
        Test::More::diag("drop database $self->{_db}: $err") if $rc;
        delete $self->{_db};
    }
}

END {
    local $?;
    my @mine = _mine();    # not in forked children
    # the instance with the plan first: it stops and checks them all
    for my $t ((grep { $_->{_plan} } @mine), (grep { !$_->{_plan} } @mine)) {
        eval { $t->_finish; 1 } or Test::More::diag("harness cleanup: $@");
    }
    # nginx ran but no "no alerts" test covered it: fail the file
    if (grep { $_->{_ran} } @mine and !grep { $_->{_checked} } @mine) {
        my @a = map { $_->alerts } @mine;
        Test::More::ok(0, 'no alerts check missing: nginx ran, but the file'
                          . ' has neither $t->plan(N) nor $t->done_testing()');
        Test::More::diag(join "\n", @a[0 .. ($#a < 9 ? $#a : 9)]) if @a;
    }
}

1;
