//! Starting a login: the authorization request and its transaction cookie.

use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use portcullis_core::ResponseMode;
use portcullis_core::authorize::{
    AuthorizationParams, PendingAuthorization, build_authorization_request,
};

use super::Engine;
use super::response::{EngineResponse, redirect, urlencode};
use crate::clock::now_unix;
use crate::config::join_base;
use crate::error::{OidcError, SessionWriteError, wants_html};
use crate::options::LoginOptions;
use crate::session::TransactionStore;

impl Engine {
    /// Starts a login: answers with the redirect to the OP and the encrypted
    /// transaction cookie. The `login_state` hook sees `parts` (headers,
    /// URI and extensions of the request that started the login).
    pub async fn login(&self, parts: &Parts, options: LoginOptions) -> EngineResponse {
        match self.try_login(parts, options).await {
            Ok(response) => response,
            Err(error) => self.error_response(&error, &parts.headers),
        }
    }

    async fn try_login(
        &self,
        parts: &Parts,
        options: LoginOptions,
    ) -> Result<EngineResponse, OidcError> {
        let now = now_unix();
        let return_to = match options.return_to {
            Some(target) => self.safe_return_to(&target)?,
            // The application's root (relative targets are resolved against
            // `BASE_URL`'s path when the user is sent there).
            None => "/".to_owned(),
        };
        let params = merge_params(
            &self.settings.authorization_params,
            options.authorization_params,
        );
        let (url, mut pending) =
            build_authorization_request(self.provider.metadata(), &self.client, &params, now)
                .map_err(OidcError::LoginRequest)?;
        pending.return_to = return_to;
        pending.app_state = self
            .settings
            .login_state
            .as_ref()
            .and_then(|hook| hook(parts));
        // With PAR the parameters go to the OP first (engine/par.rs).
        let url = self.authorization_redirect(url, now).await?;
        let mut store = self.read_transactions(&parts.headers, now);
        store.push(pending.state.clone(), pending, now);
        let cookie = self.transaction_cookie(&mut store)?;
        let mut response = redirect(url.as_str())?;
        response.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(response)
    }

    /// The answer to an unauthenticated request for a protected resource:
    /// browsers are redirected to login and come back to `original_target`
    /// (the path and query as the application saw it, before any router
    /// stripped a prefix); other clients get 401 JSON.
    pub fn reject_unauthenticated(
        &self,
        original_target: &str,
        headers: &HeaderMap,
    ) -> EngineResponse {
        if let (true, Some(login)) = (wants_html(headers), &self.settings.routes.login) {
            let mut location = join_base(&self.settings.base_url, login)
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|_| login.clone());
            location.push_str("?returnTo=");
            location.push_str(&urlencode(original_target));
            return match redirect(&location) {
                Ok(response) => response,
                Err(error) => self.error_response(&error, headers),
            };
        }
        self.error_response(&OidcError::Unauthenticated, headers)
    }

    pub(crate) fn read_transactions(
        &self,
        headers: &HeaderMap,
        now: u64,
    ) -> TransactionStore<PendingAuthorization> {
        TransactionStore::from_headers(
            headers.get_all(header::COOKIE),
            &self.keys,
            &self.settings.transaction_cookie,
            now,
        )
    }

    /// The `Set-Cookie` value that stores the pending flows (or removes the
    /// cookie when none is left).
    pub(crate) fn transaction_cookie(
        &self,
        store: &mut TransactionStore<PendingAuthorization>,
    ) -> Result<HeaderValue, OidcError> {
        // Only a form_post answer is a cross-site POST that needs SameSite=None;
        // query-mode flows keep the stricter Lax.
        let needs_cross_site = store
            .iter()
            .any(|(_, flow)| flow.response_mode == ResponseMode::FormPost);
        let options = if needs_cross_site {
            &self.transaction_cookie
        } else {
            &self.session_cookie
        };
        let cookie = store
            .write_set_cookie(&self.keys, &self.settings.transaction_cookie, options)
            .map_err(SessionWriteError::from)?;
        HeaderValue::from_str(&cookie.encoded().to_string())
            .map_err(|e| OidcError::Session(SessionWriteError::Header(e)))
    }
}

/// Per-login parameters override the layer's defaults field by field; custom
/// parameters are combined, a per-login value replacing a default of the same name.
pub(crate) fn merge_params(
    defaults: &AuthorizationParams,
    overrides: AuthorizationParams,
) -> AuthorizationParams {
    let mut extra: Vec<(String, String)> = defaults
        .extra
        .iter()
        .filter(|(name, _)| !overrides.extra.iter().any(|(n, _)| n == name))
        .cloned()
        .collect();
    extra.extend(overrides.extra);
    AuthorizationParams {
        scope: overrides.scope.or_else(|| defaults.scope.clone()),
        response_mode: overrides.response_mode.or(defaults.response_mode),
        prompt: overrides.prompt.or_else(|| defaults.prompt.clone()),
        login_hint: overrides.login_hint.or_else(|| defaults.login_hint.clone()),
        max_age: overrides.max_age.or(defaults.max_age),
        acr_values: overrides.acr_values.or_else(|| defaults.acr_values.clone()),
        acr_essential: overrides.acr_essential || defaults.acr_essential,
        audience: overrides.audience.or_else(|| defaults.audience.clone()),
        ui_locales: overrides.ui_locales.or_else(|| defaults.ui_locales.clone()),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_login_parameters_override_defaults_field_by_field() {
        let defaults = AuthorizationParams::new()
            .prompt("login")
            .audience("api")
            .param("a", "1")
            .param("b", "2");
        let merged = merge_params(
            &defaults,
            AuthorizationParams::new().prompt("none").param("b", "3"),
        );
        assert_eq!(merged.prompt.as_deref(), Some("none"));
        assert_eq!(merged.audience.as_deref(), Some("api"));
        assert_eq!(
            merged.extra,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "3".to_owned())
            ]
        );
    }
}
