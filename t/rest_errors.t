#!/usr/bin/perl

# Bad input of every kind gets the right 4xx status and a JSON error
# {"error":{"code","status","message"}} -- never a 500, never a hang -- and
# the server (and the data) are fine afterwards: unknown routes, wrong
# methods (Allow), unknown / duplicate / malformed query parameters, invalid
# UTF-8 and control characters, over-long values, bad session ids, SQL
# injection attempts, unknown level / conference (hints), nginx's own 414 and
# 400 and 413 through error_page + confhaven_json_errors, and the import
# endpoint's authentication, media type, size and body errors.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(219);

$t->db();
$t->write_conf(<<'EOF');
http {
    confhaven_pg_server "%%DSN%%";

    # the API under test: small limits so the size errors are cheap to hit
    server {
        listen 127.0.0.1:%%PORT_1%%;

        large_client_header_buffers 4 1k;
        client_max_body_size 4k;
        client_body_buffer_size 8k;

        error_page 400 404 405 413 414 494 500 502 503 504 /.confhaven-error;

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
            confhaven_import_max_size 1k;
        }

        location = /.confhaven-error {
            internal;
            confhaven_json_errors on;
        }
    }

    # no admin key here: imports are forbidden
    server {
        listen 127.0.0.1:%%PORT_2%%;

        location / {
            confhaven_rest on;
        }
    }

    # for loading the test data
    server {
        listen 127.0.0.1:%%PORT_3%%;

        client_max_body_size 32m;
        client_body_buffer_size 1m;

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
$t->run();


my @seen;      # [name, status, timed out] of every exchange checked below

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        timezone => 'Europe/London',
                        name => 'Scottish Summit 2026', port => 3);
is($r->{status}, 200, 'import scottish-summit-2026 (test data)')
    or diag(substr($r->{body} // '', 0, 500));

my $nsessions = $t->psql('SELECT count(*) FROM confhaven.sessions');
my $all = search('conference=scottish-summit-2026&include_past=true&limit=50');
my $nall = obj($all->{json})->{count} // 0;
is($nall, 50, 'baseline: 50 sessions listed with limit=50');


# ---- unknown routes

check($t->get_json('/api/nope'), 404, 'not_found', 'GET /api/nope');
like(err($r = $t->get_json('/nothing/here'))->{message} // '',
     qr{/nothing/here}, 'unknown route: message names the path');
check($r, 404, 'not_found', 'GET /nothing/here');
like(err($r)->{hint} // '', qr{/api/sessions}, 'unknown route: hint lists endpoints');
check($t->get_json('/api/sessions/1/extra'), 404, 'not_found',
      'GET /api/sessions/1/extra');
check($t->get_json('/api/conferencesX'), 404, 'not_found',
      'GET /api/conferencesX');


# ---- wrong methods

for my $c (['DELETE', '/api/sessions', 'GET, HEAD'],
           ['PUT', '/api/conferences', 'GET, HEAD'],
           ['POST', '/api/sessions?q=x', 'GET, HEAD'],
           ['DELETE', '/api/sessions/1', 'GET, HEAD'],
           ['POST', '/health', 'GET, HEAD'],
           ['PUT', '/api/conferences/scottish-summit-2026', 'GET, HEAD'],
           ['GET', '/api/admin/conferences/x/import', 'POST'])
{
    my ($m, $path, $allow) = @$c;
    $r = $t->http($m, $path, $m eq 'GET' ? () : (body => '{"x":1}',
                  content_type => 'application/json'));
    check($r, 405, 'method_not_allowed', "$m $path");
    is($r->{headers}{allow}, $allow, "$m $path: Allow: $allow");
}


# ---- query parameters

$r = search('q=x&colour=blue');
check($r, 400, 'bad_parameter', 'unknown parameter');
like(err($r)->{message} // '', qr/"colour"/, 'unknown parameter: named');
like(err($r)->{message} // '', qr/limit/, 'unknown parameter: accepted ones listed');

$r = $t->get_json('/api/conferences?q=x');
check($r, 400, 'bad_parameter', 'q on /api/conferences');
like(err($r)->{message} // '', qr/"q"/, 'q on /api/conferences: named');

check($t->get_json('/health?verbose=1'), 400, 'bad_parameter',
      '/health takes no parameters');
check($t->get_json('/api/sessions/1?q=x'), 400, 'bad_parameter',
      '/api/sessions/{id} takes no parameters');

$r = search('q=a&q=b');
check($r, 400, 'bad_parameter', 'duplicate q');
like(err($r)->{message} // '', qr/"q".*more than once/, 'duplicate q: named');
check(search('limit=5&limit=6'), 400, 'bad_parameter', 'duplicate limit');

for my $l ('0', '51', 'abc', '-1', '1e3', '5.0', ' 5', '99999999999999999999') {
    (my $enc = $l) =~ s/ /%20/g;
    $r = search("limit=$enc");
    check($r, 400, 'bad_parameter', "limit=$l");
}
like(err($r)->{message} // '', qr/limit/, 'bad limit: message names limit');

$r = search('include_past=maybe');
check($r, 400, 'bad_parameter', 'include_past=maybe');
like(err($r)->{message} // '', qr/include_past/, 'include_past=maybe: named');


# ---- bytes in q

for my $c (['%ff', 'lone 0xff byte'],
           ['abc%c0%af', 'overlong "/"'],
           ['%ed%a0%80', 'UTF-16 surrogate'],
           ['%e2%82', 'truncated sequence'],
           ['%f4%90%80%80', 'beyond U+10FFFF'],
           ['a%00b', 'NUL'],
           ['a%01b', 'control character 0x01'],
           ['a%1bb', 'ESC'],
           ['a%0Ab', 'newline'],
           ['a%7fb', 'DEL'])
{
    check(search("q=$c->[0]&include_past=true"), 400, 'bad_parameter',
          "q=$c->[0] ($c->[1])");
}

$r = search('q=' . ('a' x 600));
check($r, 400, 'bad_parameter', '600-byte q');
like(err($r)->{message} // '', qr/too long/, '600-byte q: too long');

$r = search('q=' . ('a' x 500));
is($r->{status}, 200, '500-byte q is accepted');
push @seen, ['500-byte q', $r->{status}, $r->{timeout}];

$r = search('q=' . ('%C3%A9' x 100) . '&include_past=true');
is($r->{status}, 200, 'UTF-8 q (200 bytes of é) is accepted');
push @seen, ['utf8 q', $r->{status}, $r->{timeout}];


# ---- session ids

for my $id ('abc', '12abc', '0', '-1', '1.5', '99999999999999999999',
            '9223372036854775808', '%ff', '%00')
{
    # nginx itself refuses a NUL in the path, before the module runs
    check($t->get_json("/api/sessions/$id"), 400,
          $id eq '%00' ? 'bad_request' : 'bad_parameter', "session id $id");
}
check($t->get_json('/api/sessions/999999999999999999'), 404, 'not_found',
      'session id of 18 digits');


# ---- SQL injection attempts

my @inj = ("' OR 1=1 --", "'); DROP TABLE confhaven.sessions; --",
           "\\'; SELECT pg_sleep(5); --");

for my $s (@inj) {
    $r = search('q=' . uri($s) . '&include_past=true&limit=50');
    is($r->{status}, 200, "q=$s: 200");
    push @seen, ["q=$s", $r->{status}, $r->{timeout}];
    my $j = obj($r->{json});
    is(obj($j->{query})->{q}, $s, "q=$s: echoed as text");
    ok(($j->{count} // 0) < $nall, "q=$s: does not list everything");

    $r = search('conference=' . uri($s) . '&include_past=true');
    check($r, 400, 'bad_parameter', "conference=$s: unknown conference");

    $r = search('track=' . uri($s) . '&include_past=true');
    is($r->{status}, 200, "track=$s: 200");
    push @seen, ["track=$s", $r->{status}, $r->{timeout}];
    is(obj($r->{json})->{count}, 0, "track=$s: nothing");

    $r = search('level=' . uri($s) . '&include_past=true');
    check($r, 400, 'bad_parameter', "level=$s: unknown level");
}

$r = $t->get_json('/api/conferences/' . uri("x' OR '1'='1"));
check($r, 404, 'not_found', 'conference slug injection');

is($t->psql('SELECT count(*) FROM confhaven.sessions'), $nsessions,
   'injection: the sessions are all still there');
$r = search('conference=scottish-summit-2026&include_past=true&limit=50');
is(obj($r->{json})->{count}, $nall, 'injection: search still lists them');


# ---- unknown level / conference: hints

$r = search('level=Expertish');
check($r, 400, 'bad_parameter', 'level=Expertish');
like(err($r)->{message} // '', qr/Expertish/i, 'level=Expertish: named (in its canonical lower case)');
my $hint = err($r)->{hint} // '';
ok($hint =~ /Introductory/ && $hint =~ /Intermediate/ && $hint =~ /Advanced/,
   'level=Expertish: hint lists the valid levels');

$r = search('conference=no-such-conf');
check($r, 400, 'bad_parameter', 'unknown conference');
like(err($r)->{message} // '', qr/no-such-conf/, 'unknown conference: named');
like(err($r)->{hint} // '', qr/scottish-summit-2026/,
     'unknown conference: hint lists valid slugs');


# ---- nginx's own errors as JSON (error_page -> confhaven_json_errors)

$r = search('q=' . ('a' x 2000));
check($r, 414, 'uri_too_long', 'URI longer than large_client_header_buffers');

$r = $t->raw("GET /api/conferences HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Length: abc\r\nConnection: close\r\n\r\n");
check($r, 400, 'bad_request', 'invalid Content-Length header');

$r = $t->raw("GET /health HTTP/1.1\r\nHost: local host\r\n"
             . "Connection: close\r\n\r\n");
check($r, 400, 'bad_request', 'invalid Host header');

$r = $t->raw("GET /api/%zz HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n");
check($r, 400, 'bad_request', 'invalid percent-encoding in the path');

# nginx's 494 (a header past large_client_header_buffers) answers 400
$r = $t->raw("GET /api/conferences HTTP/1.1\r\nHost: localhost\r\n"
             . 'X-Big: ' . ('a' x 9000) . "\r\nConnection: close\r\n\r\n");
check($r, 400, 'bad_request', 'a request header over 8k (494)');


# ---- import endpoint

my $ipath = '/api/admin/conferences/err-test/import?name=Err+Test'
    . '&timezone=Europe/London';
my $key = $t->admin_key;
my $sched = '{"sessions":[],"speakers":[],"categories":[],"rooms":[]}';

$r = $t->http('POST', $ipath, body => $sched,
              content_type => 'application/json');
check($r, 401, 'unauthorized', 'import without a key');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/,
     'import without a key: WWW-Authenticate: Bearer');

$r = $t->http('POST', $ipath, body => $sched, content_type => 'application/json',
              headers => ['Authorization' => 'Bearer ' . ('0' x length $key)]);
check($r, 401, 'unauthorized', 'import with a wrong key');
ok(defined $r->{headers}{'www-authenticate'},
   'import with a wrong key: WWW-Authenticate');

$r = $t->http('POST', $ipath, body => $sched, content_type => 'application/json',
              headers => ['X-API-Key' => substr($key, 0, -1)]);
check($r, 401, 'unauthorized', 'import with a truncated X-API-Key');

$r = $t->http('POST', $ipath, body => $sched, content_type => 'application/json',
              headers => ['Authorization' => "Basic $key"]);
check($r, 401, 'unauthorized', 'import with the key as Basic credentials');

$r = $t->http('POST', $ipath, body => $sched, content_type => 'application/json',
              headers => ['Authorization' => "Bearer $key"], port => 2);
check($r, 403, 'forbidden', 'import where no admin key is configured');

$r = post($sched, content_type => 'text/plain');
check($r, 415, 'unsupported_media_type', 'import as text/plain');
like(err($r)->{message} // '', qr{text/plain}, 'text/plain: named');

$r = post('{"sessions":[' . ('0,' x 1000) . '0],"speakers":[]}');
check($r, 413, 'too_large', 'Content-Length above confhaven_import_max_size');

$r = post(undef, chunks => [('x' x 1000) x 8]);
check($r, 413, 'too_large', 'chunked body above client_max_body_size');

$r = post(undef, chunks => [('{"a":' . ('1' x 994) . '}'), ('x' x 1000)]);
check($r, 413, 'too_large', 'chunked body above confhaven_import_max_size');

$r = post('');
check($r, 400, undef, 'empty body');

$r = post("  \r\n\t ");
check($r, 422, 'invalid_schedule', 'whitespace-only body');

$r = post('{"sessions": [ {"id": "1", ');
check($r, 422, 'invalid_schedule', 'malformed JSON');
like(err($r)->{message} // '', qr/not valid JSON/, 'malformed JSON: says so');

$r = post("<schedule><conference>");
check($r, 422, 'invalid_schedule', 'malformed XML');
like(err($r)->{message} // '', qr/XML/, 'malformed XML: says so');

$r = post("{\"sessions\":[],\"speakers\":[],\"x\":\"\xff\xfe\"}");
check($r, 400, 'invalid_encoding', 'invalid UTF-8 body');

$r = post("{\"sessions\":[],\"speakers\":[],\"x\":\"a\x00b\"}");
check($r, 400, 'invalid_encoding', 'NUL in the body');

$r = post('{"hello":"world"}');
check($r, 422, 'invalid_schedule', 'JSON that is not a schedule');
like(err($r)->{message} // '', qr/format/, 'not a schedule: says which formats');

$r = post('[1,2,3]');
check($r, 422, 'invalid_schedule', 'a JSON array');

$r = post('{"sessions":"no","speakers":[]}');
check($r, 422, 'invalid_schedule', 'sessions is not an array');

$r = post('{"sessions":[{"id":"1","title":"T","startsAt":"abc",'
          . '"endsAt":"2026-01-01T10:00:00","speakers":[]}],"speakers":[]}');
check($r, 422, 'invalid_schedule', 'bad startsAt');
like(err($r)->{message} // '', qr/startsAt/, 'bad startsAt: named');

$r = post($sched, path => '/api/admin/conferences/Bad_Slug/import'
                           . '?timezone=Europe/London');
check($r, 400, 'bad_parameter', 'invalid slug');

$r = post($sched, path => '/api/admin/conferences/err-test/import'
                           . '?timezone=Mars/Olympus');
check($r, 400, 'bad_parameter', 'invalid time zone');

$r = post($sched, path => '/api/admin/conferences/err-test/import?tz=x');
check($r, 400, 'bad_parameter', 'unknown import parameter');

is($t->psql("SELECT count(*) FROM confhaven.conferences WHERE slug <> "
            . "'scottish-summit-2026'"), 0,
   'failed imports created no conference');


# ---- still alive

is_deeply([map { "$_->[0]: $_->[1]" }
           grep { $_->[2] || !defined $_->[1] || $_->[1] >= 500 } @seen],
          [], 'no 5xx, no timeouts');

$r = $t->get_json('/health');
is($r->{status}, 200, 'health after all that: 200');
is(obj($r->{json})->{status}, 'ok', 'health after all that: ok');
is(obj(obj($r->{json})->{database})->{sessions}, $nsessions,
   'health after all that: all sessions');


# ------------------------------------------------------------------ helpers

# check(response, status, code, name): 2 tests -- the status, and a JSON
# error body {"error":{"code","status","message"}} with that status (and code)
sub check {
    my ($r, $status, $code, $name) = @_;
    push @seen, [$name, $r->{status}, $r->{timeout}];

    is($r->{status}, $status, "$name: $status")
        or diag(substr($r->{raw} // '', 0, 600));

    my $e = err($r);
    my @bad;
    push @bad, 'content type ' . ($r->{headers}{'content-type'} // 'none')
        unless ($r->{headers}{'content-type'} // '') =~ m{^application/json\b}i;
    push @bad, 'no JSON error object' unless ref obj($r->{json})->{error} eq 'HASH';
    push @bad, "error.status " . ($e->{status} // 'undef')
        unless ($e->{status} // '') eq $status;
    push @bad, "error.code " . ($e->{code} // 'undef')
        if defined $code ? ($e->{code} // '') ne $code : !defined $e->{code};
    push @bad, 'no error.message'
        unless defined $e->{message} && !ref $e->{message} && length $e->{message};
    ok(!@bad, "$name: JSON error") or diag(join('; ', @bad) . "\n"
                                           . substr($r->{body} // '', 0, 400));
}

sub search { return $t->get_json("/api/sessions?$_[0]") }

# post(body, content_type => .., path => .., chunks => [..]): an authorized import
sub post {
    my ($body, %o) = @_;
    my $path = $o{path} // $ipath;
    my $ct = $o{content_type} // 'application/json';

    if ($o{chunks}) {
        my $head = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Authorization: Bearer $key\r\nContent-Type: $ct\r\n"
            . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        my @c = map { sprintf("%x\r\n%s\r\n", length $_, $_) } @{ $o{chunks} };
        $c[-1] .= "0\r\n\r\n";
        return $t->raw([$head, @c], delay => 0.02);
    }

    return $t->http('POST', $path, body => $body, content_type => $ct,
                    headers => ['Authorization' => "Bearer $key"]);
}

sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub obj { ref $_[0] eq 'HASH' ? $_[0] : {} }
sub err { my ($r) = @_; return obj(obj($r->{json})->{error}) }
