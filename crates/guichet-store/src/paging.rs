//! Keyset pagination, the one way every list pages: the rows whose sort key comes after the
//! cursor (`WHERE (key) > cursor`, spelt out column by column so that both backends use the
//! index on the key), in key order, one more than asked for (`LIMIT n + 1`) to know whether
//! another page follows; the next cursor is the sort key of the last row kept.
//!
//! A list names its sort key ([`Keyset`]): its columns, most significant first, one direction
//! for all, and how its page token spells a key ([`Token`]). The token formats are part of the
//! API (clients hand tokens back): they do not change.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ModelTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    Value,
};

use crate::{Page, PageRequest, StoreError};

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Smallest key first.
    Ascending,
    /// Largest key first.
    Descending,
}

/// How a list's page token spells the sort key of the last item it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// One text column, as is (an id).
    Text,
    /// `created_at:id`: a millisecond time zero-padded to 20 digits, so that tokens compare like
    /// the pairs, then a text id.
    TimeThenText,
    /// A JSON array of the key's text columns.
    JsonTexts,
}

/// The sort key of a list.
#[derive(Debug, Clone)]
pub(crate) struct Keyset<C> {
    columns: Vec<C>,
    direction: Direction,
    token: Token,
}

impl<C, E> Keyset<C>
where
    C: ColumnTrait,
    E: EntityTrait<Column = C>,
    C: ColumnTrait<EntityName = E>,
{
    /// A list in ascending order of one text column, its token the column's value.
    pub(crate) fn id(column: C) -> Self {
        Self { columns: vec![column], direction: Direction::Ascending, token: Token::Text }
    }

    /// A list ordered by a millisecond time, then a text id.
    pub(crate) fn time_then_id(time: C, id: C, direction: Direction) -> Self {
        Self { columns: vec![time, id], direction, token: Token::TimeThenText }
    }

    /// A list in ascending order of several text columns, its token a JSON array of them.
    pub(crate) fn texts(columns: Vec<C>) -> Self {
        Self { columns, direction: Direction::Ascending, token: Token::JsonTexts }
    }

    /// The page of rows matching `filter` after `page.after`: one statement. The rows are in key
    /// order; `next_after` is set when a row followed the last one kept.
    pub(crate) async fn page(
        &self,
        conn: &impl ConnectionTrait,
        filter: Condition,
        page: &PageRequest,
    ) -> Result<Page<E::Model>, StoreError> {
        let mut cond = filter;
        if let Some(after) = &page.after {
            cond = cond.add(self.after(&self.decode(after)?));
        }
        let order = match self.direction {
            Direction::Ascending => Order::Asc,
            Direction::Descending => Order::Desc,
        };
        let mut select = E::find().filter(cond);
        for column in &self.columns {
            select = select.order_by(*column, order.clone());
        }
        let mut items = select.limit(page.limit + 1).all(conn).await?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        if items.len() <= limit {
            return Ok(Page { items, next_after: None });
        }
        items.truncate(limit);
        let next_after = items.last().map(|row| self.encode(row)).transpose()?;
        Ok(Page { items, next_after })
    }

    /// `(columns) > key` (or `<`, descending), one column at a time: `c1 > k1 OR (c1 = k1 AND
    /// c2 > k2) OR …`.
    fn after(&self, key: &[Value]) -> Condition {
        let mut any = Condition::any();
        for (i, (column, value)) in self.columns.iter().zip(key).enumerate() {
            let beyond = match self.direction {
                Direction::Ascending => column.gt(value.clone()),
                Direction::Descending => column.lt(value.clone()),
            };
            if i == 0 {
                any = any.add(beyond);
            } else {
                let equal =
                    self.columns.iter().zip(key).take(i).fold(Condition::all(), |all, (c, v)| all.add(c.eq(v.clone())));
                any = any.add(equal.add(beyond));
            }
        }
        any
    }

    /// The key a page token stands for.
    fn decode(&self, token: &str) -> Result<Vec<Value>, StoreError> {
        match self.token {
            Token::Text => Ok(vec![token.into()]),
            Token::TimeThenText => token
                .split_once(':')
                .and_then(|(t, id)| Some(vec![t.parse::<i64>().ok()?.into(), id.into()]))
                .ok_or_else(|| StoreError::invalid("page_token", "not a page token of this list")),
            Token::JsonTexts => serde_json::from_str::<Vec<String>>(token)
                .ok()
                .filter(|texts| texts.len() == self.columns.len())
                .map(|texts| texts.into_iter().map(Value::from).collect())
                .ok_or_else(|| {
                    StoreError::invalid("page_token", "not a page token of this list: start again without page_token")
                }),
        }
    }

    /// The page token of `row`'s key.
    fn encode(&self, row: &E::Model) -> Result<String, StoreError> {
        let values: Vec<Value> = self.columns.iter().map(|c| row.get(*c)).collect();
        let text = |v: &Value| if let Value::String(Some(s)) = v { Some(s.clone()) } else { None };
        let token = match (self.token, values.as_slice()) {
            (Token::Text, [id]) => text(id),
            (Token::TimeThenText, [Value::BigInt(Some(t)), id]) => text(id).map(|id| time_key(*t, &id)),
            (Token::JsonTexts, texts) => {
                texts.iter().map(text).collect::<Option<Vec<_>>>().and_then(|t| serde_json::to_string(&t).ok())
            }
            _ => None,
        };
        token.ok_or_else(|| StoreError::corrupt(E::default().table_name(), "a sort key of an unexpected type"))
    }
}

/// A sort key `created_at:id`, zero-padded so that keys compare like the pairs.
pub(crate) fn time_key(created_at: i64, id: &str) -> String {
    format!("{created_at:020}:{id}")
}

impl<T> Page<T> {
    /// The same page with its items changed one by one.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_after: self.next_after }
    }

    /// The same page with its items changed one by one, or the first error.
    pub(crate) fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<Result<_, E>>()?, next_after: self.next_after })
    }

    /// The same page with `items` (made from its own, in the same order) in their place.
    pub(crate) fn with_items<U>(self, items: Vec<U>) -> Page<U> {
        Page { items, next_after: self.next_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{contact, invitation, membership};

    #[test]
    fn tokens_read_back_as_the_keys_they_spell() {
        let by_id = Keyset::id(membership::Column::Id);
        assert_eq!(by_id.decode("m_1").unwrap(), vec![Value::from("m_1")]);
        let by_time =
            Keyset::time_then_id(invitation::Column::CreatedAt, invitation::Column::Id, Direction::Descending);
        assert_eq!(time_key(42, "inv_1"), "00000000000000000042:inv_1");
        assert_eq!(
            by_time.decode("00000000000000000042:inv_1").unwrap(),
            vec![Value::from(42_i64), Value::from("inv_1")]
        );
        let by_name = Keyset::texts(vec![contact::Column::FamilyName, contact::Column::GivenName, contact::Column::Id]);
        assert_eq!(
            by_name.decode(r#"["Durand","Léa","ct_1"]"#).unwrap(),
            vec![Value::from("Durand"), Value::from("Léa"), Value::from("ct_1")]
        );
    }

    #[test]
    fn a_token_of_another_shape_is_a_field_error() {
        let by_time = Keyset::time_then_id(invitation::Column::CreatedAt, invitation::Column::Id, Direction::Ascending);
        let by_name = Keyset::texts(vec![contact::Column::FamilyName, contact::Column::GivenName, contact::Column::Id]);
        for (keyset_says, token) in [
            (by_time.decode("inv_1"), "inv_1"),
            (by_time.decode("x:inv_1"), "x:inv_1"),
            (by_name.decode(r#"["Durand","ct_1"]"#), "two texts"),
            (by_name.decode("inv_1"), "not JSON"),
        ] {
            match keyset_says {
                Err(StoreError::Invalid(v)) => assert_eq!(v[0].field, "page_token", "{token}"),
                other => panic!("{token}: {other:?}"),
            }
        }
    }
}
