//! Types that parse client input at the edge and cannot hold an invalid value
//! afterwards. Each `parse` error is the sentence shown to the client.

pub mod conversation;
pub mod search;
pub mod upload;
pub mod user;

pub use conversation::{ClientId, Emoji, MessageBody, Title, UserIds};
pub use search::SearchQuery;
pub use upload::{FileName, MediaType};
pub use user::{Email, Password, PersonName, Username};
