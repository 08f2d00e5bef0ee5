// Benchmark peer: express-openid-connect 3.x (npm) protecting the same
// /profile handler. Environment: ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET,
// BASE_URL, SECRET, PORT (as for the `basic` example). Redirect URI: BASE_URL/callback.
import express from 'express';
import eoc from 'express-openid-connect';

const { auth, requiresAuth } = eoc;
const required = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`bench-express: missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const app = express();
app.use(auth({
  authRequired: false,
  issuerBaseURL: required('ISSUER_BASE_URL'),
  baseURL: required('BASE_URL'),
  clientID: required('CLIENT_ID'),
  clientSecret: required('CLIENT_SECRET'),
  secret: required('SECRET'),
  authorizationParams: { response_type: 'code', scope: 'openid profile email' },
}));
app.get('/', (req, res) => res.send(req.oidc.isAuthenticated() ? `Signed in as ${req.oidc.user.sub}` : 'Signed out'));
app.get('/profile', requiresAuth(), (req, res) => res.json(req.oidc.user));

const port = Number(process.env.PORT || 3002);
app.listen(port, '127.0.0.1', () => console.error(`bench-express listening on 127.0.0.1:${port}`));
